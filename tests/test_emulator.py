"""The upstream emulator behaves like the real servers where metering and resilience care."""

from __future__ import annotations

import httpx
import pytest

from emulator.app import build_emulator
from router.servers import RunningServer
from tests.conftest import script
from tests.running import Servers

LONG_SYSTEM = "You are a meticulous assistant. " * 400  # well over 1,024 tokens


def chat(server: RunningServer, **body: object) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/chat/completions", json={"model": "gpt-5.4-nano", **body}, timeout=10)


def test_repeated_long_prefix_is_reported_as_cached_in_128_token_steps(emulator: RunningServer) -> None:
    first = chat(
        emulator, messages=[{"role": "system", "content": LONG_SYSTEM}, {"role": "user", "content": "question one"}]
    ).json()["usage"]
    second = chat(
        emulator, messages=[{"role": "system", "content": LONG_SYSTEM}, {"role": "user", "content": "another question"}]
    ).json()["usage"]
    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    cached = second["prompt_tokens_details"]["cached_tokens"]
    assert cached >= 1024 and cached % 128 == 0 and cached <= second["prompt_tokens"]
    other_model = httpx.post(
        f"{emulator.url}/v1/chat/completions",
        json={
            "model": "gpt-5.4-mini",
            "messages": [{"role": "system", "content": LONG_SYSTEM}, {"role": "user", "content": "question one"}],
        },
    ).json()["usage"]
    assert other_model["prompt_tokens_details"]["cached_tokens"] == 0  # caches are per model


def test_short_prompts_are_never_cached(emulator: RunningServer) -> None:
    for _ in range(2):
        usage = chat(emulator, messages=[{"role": "user", "content": "hi"}]).json()["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0


def test_reasoning_models_report_reasoning_inside_completion(emulator: RunningServer) -> None:
    usage = chat(emulator, messages=[{"role": "user", "content": "hi"}], reasoning_effort="high").json()["usage"]
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    assert reasoning == 256 and usage["completion_tokens"] > reasoning


def test_scripted_outcomes_are_consumed_in_order_then_normal(emulator: RunningServer) -> None:
    script(emulator, "gpt-5.4-nano", outcomes=["429", "429_quota", "503", "context_length_exceeded", "empty"])
    rate = chat(emulator, messages=[{"role": "user", "content": "x"}])
    assert rate.status_code == 429 and rate.headers["retry-after"] == "1"
    assert rate.json()["error"]["code"] == "rate_limit_exceeded"
    assert chat(emulator, messages=[{"role": "user", "content": "x"}]).json()["error"]["code"] == "insufficient_quota"
    assert chat(emulator, messages=[{"role": "user", "content": "x"}]).status_code == 503
    too_long = chat(emulator, messages=[{"role": "user", "content": "x"}])
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "context_length_exceeded"
    empty = chat(emulator, messages=[{"role": "user", "content": "x"}]).json()
    assert empty["choices"][0]["message"]["content"] == "" and empty["choices"][0]["finish_reason"] == "stop"
    assert chat(emulator, messages=[{"role": "user", "content": "x"}]).json()["choices"][0]["message"]["content"]


def test_bad_tool_json_outcome_breaks_the_arguments(emulator: RunningServer) -> None:
    script(emulator, "gpt-5.4-nano", outcomes=["bad_tool_json"])
    tools = [
        {
            "type": "function",
            "function": {"name": "f", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}},
        }
    ]
    message = chat(emulator, messages=[{"role": "user", "content": "x"}], tools=tools).json()["choices"][0]["message"]
    with pytest.raises(ValueError):
        import json

        json.loads(message["tool_calls"][0]["function"]["arguments"])


def test_unknown_outcome_is_rejected(emulator: RunningServer) -> None:
    response = httpx.post(f"{emulator.url}/_mock/script", json={"model": "m", "outcomes": ["explode"]})
    assert response.status_code == 400


def test_random_degrade_mode_follows_the_probability_per_class(emulator: RunningServer) -> None:
    script(emulator, "gpt-5.4-nano", degrade_probability={"agentic": 1.0, "single_turn": 0.0})
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    agentic = chat(emulator, messages=[{"role": "user", "content": "x"}], tools=tools).json()
    single = chat(emulator, messages=[{"role": "user", "content": "x"}]).json()
    assert agentic["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"].endswith('"unterminated')
    assert single["choices"][0]["message"]["content"]


@pytest.mark.parametrize("dialect", ["vllm", "ollama"])
def test_self_hosted_dialects_omit_token_details(dialect: str, serve_in_thread: Servers) -> None:
    server = serve_in_thread(build_emulator(dialect=dialect), name=dialect)
    usage = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": "Qwen/Qwen3.5-9B", "messages": [{"role": "user", "content": "x"}]},
    ).json()["usage"]
    assert "prompt_tokens_details" not in usage and usage["prompt_tokens"] > 0
    script(server, "Qwen/Qwen3.5-9B", outcomes=["500"])
    error = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": "Qwen/Qwen3.5-9B", "messages": [{"role": "user", "content": "x"}]},
    ).json()["error"]
    if dialect == "vllm":
        assert error["code"] == 500
    else:
        assert isinstance(error, str)
