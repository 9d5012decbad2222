"""Acceptance: the official openai SDK -> routetax -> the emulator, all real HTTP on loopback."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from openai import OpenAI

from router.config import Config
from router.servers import RunningServer
from tests.conftest import script
from tests.running import Servers

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
HELLO = [{"role": "user", "content": "Say hello in five words."}]


def records(proxy: RunningServer, n: int, timeout: float = 5.0) -> list:
    """The proxy's finished records, once at least `n` have arrived (metering runs after the answer)."""
    recent = proxy.app.state.metering.recent  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while len(recent) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(recent)


def test_plain_chat_is_answered_by_the_single_turn_tier(client: OpenAI, proxy: RunningServer) -> None:
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    answer = raw.parse()
    assert answer.choices[0].message.content
    assert answer.model == "gpt-5.4-nano"  # names what really served it
    assert raw.headers["x-routetax-tier"] == "nano"
    assert raw.headers["x-routetax-class"] == "single_turn"
    assert len(raw.headers["x-routetax-request-id"]) == 32
    assert float(raw.headers["x-routetax-overhead-ms"]) >= 0
    assert answer.usage is not None and answer.usage.prompt_tokens > 0
    [record] = records(proxy, 1)
    assert record.request_id == raw.headers["x-routetax-request-id"]
    assert record.usage.prompt_tokens == answer.usage.prompt_tokens
    assert record.usage.completion_tokens == answer.usage.completion_tokens
    assert not record.estimated


def test_streamed_chat_arrives_in_several_chunks_without_the_extra_usage_chunk(
    client: OpenAI, proxy: RunningServer
) -> None:
    stream = client.chat.completions.create(model="auto", messages=HELLO, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 3
    assert text
    assert all(c.usage is None for c in chunks)  # the client did not ask for usage
    [record] = records(proxy, 1)
    assert record.stream and record.outcome == "success"
    assert record.usage.completion_tokens > 0 and not record.estimated  # metered from the hidden chunk


def test_streamed_chat_keeps_the_usage_chunk_when_the_client_asks(client: OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="auto", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0


def test_request_with_tools_returns_tool_calls_from_the_agentic_tier(client: OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Weather in Oslo?"}], tools=TOOLS
    )
    message = raw.parse().choices[0].message
    assert raw.headers["x-routetax-class"] == "agentic"
    assert raw.headers["x-routetax-tier"] == "mini"
    assert message.tool_calls and message.tool_calls[0].function.name == "get_weather"


def test_streamed_tool_calls_reassemble_into_valid_arguments(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "Weather in Oslo?"}], tools=TOOLS, stream=True
    )
    arguments = "".join(
        c.choices[0].delta.tool_calls[0].function.arguments or ""
        for c in stream
        if c.choices and c.choices[0].delta.tool_calls
    )
    assert arguments.startswith("{") and arguments.endswith("}")


@pytest.mark.parametrize("model", ["mini", "gpt-5.4-mini"])
def test_pinned_tier_by_name_or_model(client: OpenAI, model: str) -> None:
    raw = client.chat.completions.with_raw_response.create(model=model, messages=HELLO)
    assert raw.headers["x-routetax-tier"] == "mini"
    assert raw.parse().model == "gpt-5.4-mini"


def test_unknown_model_raises_not_found(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-9-ultra", messages=HELLO)
    assert caught.value.code == "model_not_found"
    assert caught.value.body["param"] == "model"


def test_upstream_500_surfaces_as_internal_server_error_in_openai_format(
    client: OpenAI, emulator: RunningServer
) -> None:
    script(emulator, "gpt-5.4-nano", outcomes=["500", "500", "500"])  # the first try and both retries
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="nano", messages=HELLO, extra_headers={"x-routetax-fallback": "off"})
    assert caught.value.status_code == 500
    assert set(caught.value.body) == {"message", "type", "param", "code"}
    assert caught.value.body["type"] == "server_error"


def test_vllm_integer_error_code_is_normalised(emulator: RunningServer, start_proxy, serve_in_thread: Servers) -> None:
    from demo.world import demo_config
    from emulator.app import build_emulator

    vllm = serve_in_thread(build_emulator(dialect="vllm"), name="vllm")
    try:
        config = demo_config(vllm.url)
        proxy = start_proxy(config)
        # recognised as OpenAI's context_length_exceeded, it moves on to the larger window (gpt-5.4): overflow both
        script(vllm, "gpt-5.4-nano", outcomes=["context_length_exceeded"])
        script(vllm, "gpt-5.4", outcomes=["context_length_exceeded"])
        response = httpx.post(f"{proxy.url}/v1/chat/completions", json={"model": "nano", "messages": HELLO})
        assert response.status_code == 400
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["code"] == "context_length_exceeded"  # vLLM's integer code and BadRequestError, recognised
        assert "maximum context length" in error["message"]
    finally:
        vllm.stop()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "invalid_json"),
        (b'{"model": "auto"}', "invalid_type"),
        (b'{"model": "auto", "messages": "hi"}', "invalid_type"),
        (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', "invalid_type"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "missing_required_parameter"),
        (b"\xff\xfe", "invalid_json"),
        (b'{"model": "auto", "messages": [{"role": "robot", "content": "x"}]}', "invalid_value"),
        (b'{"model": "auto", "messages": ["hi"]}', "invalid_type"),
        (b'{"model": 5, "messages": [{"role": "user", "content": "x"}]}', "invalid_type"),
        (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "n": 0}', "invalid_value"),
        (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}', "invalid_value"),
        (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}', "invalid_value"),
        (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "tools": {"a": 1}}', "invalid_type"),
        (b"[" * 5000 + b"]" * 5000, "invalid_json"),
    ],
)
def test_malformed_body_is_a_400_in_openai_format(proxy: RunningServer, body: bytes, code: str) -> None:
    response = httpx.post(
        f"{proxy.url}/v1/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.headers["x-routetax-request-id"]


def test_unknown_endpoint_and_wrong_method_answer_in_openai_format(proxy: RunningServer) -> None:
    missing = httpx.post(f"{proxy.url}/v1/embeddingz", json={})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_url"
    wrong = httpx.get(f"{proxy.url}/v1/chat/completions")
    assert wrong.status_code == 405 and wrong.json()["error"]["type"] == "invalid_request_error"


def test_client_disconnect_mid_stream_leaves_proxy_healthy_and_metered(
    client: OpenAI, proxy: RunningServer, emulator: RunningServer
) -> None:
    script(emulator, "gpt-5.4-nano", chunk_delay_ms=50)
    with httpx.stream(
        "POST", f"{proxy.url}/v1/chat/completions", json={"model": "nano", "messages": HELLO, "stream": True}
    ) as response:
        received = 0
        for _line in response.iter_lines():
            received += 1
            if received >= 6:
                break  # the client walks away mid-stream
    [record] = records(proxy, 1)
    assert record.outcome == "client_cancelled"
    assert record.usage is not None and record.usage.completion_tokens > 0 and record.estimated
    assert record.attempts[0].ended_by == "client_cancelled"
    assert httpx.get(f"{proxy.url}/healthz").status_code == 200
    script(emulator, "gpt-5.4-nano", chunk_delay_ms=0)
    assert client.chat.completions.create(model="nano", messages=HELLO).choices[0].message.content


def test_upstream_that_breaks_mid_stream_ends_with_a_clean_error_event(
    client: OpenAI, proxy: RunningServer, emulator: RunningServer
) -> None:
    script(emulator, "gpt-5.4-nano", outcomes=["disconnect_mid_stream"])
    with pytest.raises(openai.APIError):
        for _chunk in client.chat.completions.create(model="nano", messages=HELLO, stream=True):
            pass
    [record] = records(proxy, 1)
    assert record.outcome == "failed"
    assert record.usage is not None and record.estimated  # the partial is metered


def test_models_lists_auto_and_every_tier_model(client: OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"auto", "gpt-5.4-nano", "gpt-5.4-mini", "gpt-5.4"} <= ids


def test_health_readiness_and_metrics_endpoints(proxy: RunningServer) -> None:
    assert httpx.get(f"{proxy.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{proxy.url}/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    metrics = httpx.get(f"{proxy.url}/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")


def test_readiness_fails_when_no_upstream_answers(start_proxy) -> None:
    from demo.world import demo_config
    from router.servers import bind_socket

    dead = bind_socket()  # bound but never listening: connections are refused
    port = dead.getsockname()[1]
    dead.close()
    proxy = start_proxy(demo_config(f"http://127.0.0.1:{port}"))
    ready = httpx.get(f"{proxy.url}/readyz")
    assert ready.status_code == 503 and ready.json()["ready"] is False


def test_unreachable_upstream_is_a_502_in_openai_format(start_proxy) -> None:
    from demo.world import demo_config
    from router.servers import bind_socket

    dead = bind_socket()
    port = dead.getsockname()[1]
    dead.close()
    no_retries = Config.model_validate({"resilience": {"max_retries": 0}})
    proxy = start_proxy(demo_config(f"http://127.0.0.1:{port}", no_retries))
    client = OpenAI(base_url=f"{proxy.url}/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="nano", messages=HELLO)
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "upstream_connect_error"


def test_unknown_fields_reach_the_upstream_and_come_back(client: OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=HELLO, extra_body={"x_vendor_flag": True}, service_tier="flex"
    )
    assert raw.parse().service_tier == "flex"  # the upstream saw the field and answered with it
    assert raw.parse().system_fingerprint == "fp_routetax_emulator"  # upstream fields pass through
