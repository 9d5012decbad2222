"""Which client request headers reach the upstream: trace context, idempotency and the client's request id do;
the upstream account's organisation and project headers, and the client's own key, never do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from openai import OpenAI
from starlette.datastructures import Headers

from demo.world import demo_config
from emulator.app import build_emulator
from router.config import Config
from router.forwarded_headers import for_tier, forwarded, valid_traceparent
from router.servers import RunningServer
from tests.conftest import UPSTREAM_SECRET, script
from tests.running import Servers

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
CLIENT_HEADERS = {
    "traceparent": TRACEPARENT,
    "tracestate": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
    "Idempotency-Key": "idem-0f3c9a",
    "X-Client-Request-Id": "client-req-42",
    "OpenAI-Organization": "org-the-client-picked",
    "OpenAI-Project": "proj_the-client-picked",
}
HELLO = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
def upstream(serve_in_thread: Servers) -> RunningServer:
    """The emulator, keyed like a provider: it refuses requests without routetax's own upstream key."""
    return serve_in_thread(build_emulator(seed=1, api_key=UPSTREAM_SECRET), name="emulator")


@pytest.fixture
def proxied(
    upstream: RunningServer, start_proxy: Callable[[Config], RunningServer], monkeypatch: pytest.MonkeyPatch
) -> OpenAI:
    monkeypatch.setenv("ROUTETAX_TEST_UPSTREAM", UPSTREAM_SECRET)
    base = demo_config(upstream.url).model_dump()
    for tier in base["tiers"].values():
        tier["api_key_env"] = "ROUTETAX_TEST_UPSTREAM"
    base["resilience"] = {"max_retries": 1}
    proxy = start_proxy(Config.model_validate(base))
    return OpenAI(base_url=f"{proxy.url}/v1", api_key="rt-the-clients-own-key", max_retries=0, timeout=20)


def received(upstream: RunningServer, path: str) -> list[dict[str, str]]:
    """The headers of every request the upstream received at `path`, oldest first, names in lower case."""
    seen = httpx.get(f"{upstream.url}/_mock/headers").json()["requests"]
    return [{name.lower(): value for name, value in r["headers"]} for r in seen if r["path"] == path]


@pytest.mark.parametrize("stream", [False, True])
def test_trace_idempotency_and_client_request_id_reach_the_upstream_and_the_organisation_does_not(
    upstream: RunningServer, proxied: OpenAI, stream: bool
) -> None:
    answer = proxied.chat.completions.create(model="auto", messages=HELLO, stream=stream, extra_headers=CLIENT_HEADERS)
    if stream:
        assert "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
    [sent] = received(upstream, "/v1/chat/completions")
    assert sent["traceparent"] == TRACEPARENT
    assert sent["tracestate"] == CLIENT_HEADERS["tracestate"]
    assert sent["idempotency-key"] == "idem-0f3c9a"
    assert sent["x-client-request-id"] == "client-req-42"
    assert "openai-organization" not in sent and "openai-project" not in sent
    assert sent["authorization"] == f"Bearer {UPSTREAM_SECRET}"  # routetax's key, never the client's


def test_the_responses_api_passes_them_on_too(upstream: RunningServer, proxied: OpenAI) -> None:
    created = proxied.responses.create(model="nano", input="Say hello.", extra_headers=CLIENT_HEADERS)
    proxied.responses.retrieve(created.id, extra_headers={"traceparent": TRACEPARENT, "OpenAI-Project": "proj_x"})
    [create] = received(upstream, "/v1/responses")
    [retrieve] = received(upstream, f"/v1/responses/{created.id}")
    assert create["idempotency-key"] == "idem-0f3c9a" and create["traceparent"] == TRACEPARENT
    assert "openai-organization" not in create and "openai-project" not in create
    assert retrieve["traceparent"] == TRACEPARENT and "openai-project" not in retrieve


def test_a_retry_repeats_the_idempotency_key_and_a_fallback_tier_gets_its_own(
    upstream: RunningServer, proxied: OpenAI
) -> None:
    """Retries on nano are the same operation; mini serving the request instead is another one."""
    script(upstream, "gpt-5.4-nano", outcomes=["500", "500"])  # max_retries 1: two attempts, then mini
    answer = proxied.chat.completions.with_raw_response.create(
        model="nano", messages=HELLO, extra_headers=CLIENT_HEADERS
    )
    assert answer.headers["x-routetax-tier"] == "mini"
    sent = received(upstream, "/v1/chat/completions")
    assert [h["idempotency-key"] for h in sent] == ["idem-0f3c9a", "idem-0f3c9a", "idem-0f3c9a-mini"]
    assert {h["traceparent"] for h in sent} == {TRACEPARENT}


def test_without_those_headers_nothing_extra_travels(upstream: RunningServer, proxied: OpenAI) -> None:
    proxied.chat.completions.create(model="auto", messages=HELLO)
    [sent] = received(upstream, "/v1/chat/completions")
    assert not {"traceparent", "tracestate", "idempotency-key", "x-client-request-id"} & set(sent)


@pytest.mark.parametrize(
    "value",
    [
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future",  # a later version may add fields
    ],
)
def test_a_well_formed_traceparent_is_valid(value: str) -> None:
    assert valid_traceparent(value)


@pytest.mark.parametrize(
    "value",
    [
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # an all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # an all-zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # the forbidden version
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  # upper case
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  # version 00 has no more fields
        "not a traceparent",
    ],
)
def test_a_malformed_traceparent_is_dropped_with_its_tracestate(value: str) -> None:
    assert forwarded({"traceparent": value, "tracestate": "congo=t61rcWkgMzE"}) == {}


def test_several_tracestate_headers_travel_as_one_list() -> None:
    raw = [(b"traceparent", TRACEPARENT.encode()), (b"tracestate", b"congo=t61"), (b"tracestate", b"rojo=00f0")]
    assert forwarded(Headers(raw=raw))["tracestate"] == "congo=t61,rojo=00f0"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("idempotency-key", "x" * 256),
        ("idempotency-key", "caf\u00e9"),
        ("x-client-request-id", "x" * 513),
        ("x-client-request-id", "   "),
        ("tracestate", "k=" + "v" * 600),
    ],
)
def test_a_value_an_upstream_would_refuse_is_dropped_not_refused(name: str, value: str) -> None:
    headers: dict[str, Any] = {"traceparent": TRACEPARENT, name: value}
    assert name not in forwarded(headers)


def test_the_planned_tier_keeps_the_key_and_another_tier_gets_it_suffixed() -> None:
    sent = {"idempotency-key": "k1", "traceparent": TRACEPARENT}
    assert for_tier(sent, "nano", "nano") == sent
    assert for_tier(sent, "mini", "nano") == {"idempotency-key": "k1-mini", "traceparent": TRACEPARENT}
    assert for_tier({"traceparent": TRACEPARENT}, "mini", "nano") == {"traceparent": TRACEPARENT}
