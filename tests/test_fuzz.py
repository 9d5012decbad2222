"""Bad input never hurts: schemathesis against the proxy's own OpenAPI, hypothesis bodies, and real clients' mistakes.

Every case goes over real HTTP to a proxy whose upstream is the emulator; the only
assertion that matters is the user's: no 5xx, ever, and errors in OpenAI's shape.
"""

from __future__ import annotations

import json

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from demo.world import demo_config
from emulator.app import build_emulator
from router.app import create_app
from router.servers import RunningServer
from tests.running import Servers

COUNTS = {"schemathesis": 0, "hypothesis": 0, "replay": 0}


@pytest.fixture(scope="module")
def live(module_serve_in_thread: Servers) -> RunningServer:
    upstream = module_serve_in_thread(build_emulator(seed=3), name="fuzz-upstream")
    return module_serve_in_thread(create_app(demo_config(upstream.url)), name="fuzz-proxy")


def assert_openai_error(response: httpx.Response | object) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    assert status < 500, f"{status}: {response.text[:300]}"  # type: ignore[attr-defined]
    if status >= 400 and "json" in response.headers.get("content-type", ""):  # type: ignore[attr-defined]
        error = json.loads(response.text)["error"]  # type: ignore[attr-defined]
        assert set(error) == {"message", "type", "param", "code"}


def test_schemathesis_finds_no_server_error(live: RunningServer) -> None:
    """Positive and negative cases generated from the proxy's own OpenAPI description, every POST operation."""
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    posts = [op for op in operations if op.method.upper() == "POST"]
    assert {op.path for op in posts} >= {"/v1/chat/completions", "/v1/responses", "/v1/feedback"}
    for operation in operations:

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def run(case) -> None:
            COUNTS["schemathesis"] += 1
            response = case.call(base_url=live.url, timeout=30)
            assert_openai_error(response)

        run()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["auto", "nano", "mini", "gpt-5.4-mini", "nope", ""]) | JSON,
        "messages": st.lists(
            st.fixed_dictionaries(
                {}, optional={"role": st.sampled_from(["user", "tool", "x"]) | JSON, "content": JSON}
            ),
            max_size=3,
        )
        | JSON,
        "stream": st.booleans() | JSON,
        "tools": JSON,
        "tool_choice": JSON,
        "n": JSON,
        "max_tokens": JSON,
        "stream_options": JSON,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=FIELDS | JSON, path=st.sampled_from(["/v1/chat/completions", "/v1/responses", "/v1/feedback"]))
def test_hypothesis_bodies_never_earn_a_5xx(live: RunningServer, body: object, path: str) -> None:
    COUNTS["hypothesis"] += 1
    response = httpx.post(
        f"{live.url}{path}", content=json.dumps(body), timeout=30, headers={"content-type": "application/json"}
    )
    assert_openai_error(response)


MISTAKES = [
    b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream": "true"}',  # stream as a string
    b'{"model": "auto", "messages": {"role": "user", "content": "hi"}}',  # messages as an object
    b'{"model": "auto", "messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]}]}',  # no ids
    b'{"model": "auto", "messages": [{"role": "tool", "content": "42"}]}',  # tool result without tool_call_id
    b'{"model": "auto", "messages": []}',
    b'{"model": ["auto"], "messages": [{"role": "user", "content": "hi"}]}',
    b'{"model": "auto", "messages": [{"role": "user", "content": [{"type": "image_url"}]}], "n": "2"}',
    b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e309}',
    b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]}',
    b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream_options": "yes", "stream": true}',
    b'{"model": "auto", "input": null}',
    b'{"model": "auto", "input": [{"type": "function_call_output"}], "previous_response_id": ""}',
    b"model=auto&messages=hi",  # a form post
    b"",
    b"null",
    b'{"model": "auto", "messages": [{"role": "user", "content": "\\ud800"}]}',  # a lone surrogate
    '{"model": "auto", "messages": [{"role": "user", "content": "h\u00e9"}]}'.encode("latin-1"),  # not UTF-8
    b'{"model": "auto", "messages": [' + b"[" * 3000 + b"]" * 3000 + b"]}",  # absurd nesting
]


@pytest.mark.parametrize("raw", MISTAKES)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses"])
def test_real_clients_mistakes_are_4xx(live: RunningServer, raw: bytes, path: str) -> None:
    COUNTS["replay"] += 1
    response = httpx.post(f"{live.url}{path}", content=raw, headers={"content-type": "application/json"}, timeout=30)
    assert_openai_error(response)
    assert response.status_code < 500


def test_oversized_body_is_a_413_and_wrong_method_a_405(live: RunningServer) -> None:
    big = b'{"model": "auto", "messages": [{"role": "user", "content": "' + b"x" * (11 * 1024 * 1024) + b'"}]}'
    response = httpx.post(f"{live.url}/v1/chat/completions", content=big, timeout=60)
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"
    assert httpx.put(f"{live.url}/v1/chat/completions", json={}).status_code == 405
    assert httpx.get(f"{live.url}/healthz").status_code == 200  # and it keeps serving


def test_fuzzing_ran_and_the_proxy_still_serves(live: RunningServer) -> None:
    total = sum(COUNTS.values())
    print(f"\nfuzz cases: {COUNTS} (total {total}), none produced a 5xx")
    assert COUNTS["hypothesis"] >= 100 and COUNTS["replay"] >= 30
    assert (
        httpx.post(
            f"{live.url}/v1/chat/completions", json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
        ).status_code
        == 200
    )
