"""The qwen tier on a real engine: llama.cpp's server with the tiny Qwen3 model, through routetax, with the openai SDK.

Everything here is real: the engine process, its tokenizer and prompt cache, its error shapes, the
proxy, Redis for the ledger. The model's answers are fixed by its weights (demo/local_engine/
tiny_qwen.py), so the records can be asserted to the token.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import orjson
import pytest
from openai import OpenAI

from demo.local_engine import DEFAULT_ALIAS, LocalEngine
from demo.local_engine.tiny_qwen import (
    GREETING,
    TOOL_ANSWER,
    TOOL_ARGUMENTS,
    TOOL_NAME,
    answer_chains,
    train_tokenizer,
)
from metering.record import Record
from router.dialects import llamacpp
from router.servers import RunningServer
from tests.local_engine import GPU_HOUR_USD, QWEN_MODEL, qwen_config
from tests.running import Processes
from tests.test_metering_e2e import ledger_records, wait_for_stream_length

CHAINS = answer_chains(train_tokenizer())
GREETING_TOKENS = len(CHAINS["greeting"])  # the end-of-sequence token is counted, as llama.cpp reports it
TOOL_CALL_TOKENS = len(CHAINS["tool_call"])
TOOL_ANSWER_TOKENS = len(CHAINS["tool_answer"])
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": TOOL_NAME,
            "description": "Search the order database.",
            "parameters": {
                "type": "object",
                "properties": {"customer_id": {"type": "string"}},
                "required": ["customer_id"],
            },
        },
    }
]
HELLO = [{"role": "user", "content": "Hi there, how are you today?"}]


@pytest.fixture
def qwen_proxy(emulator: RunningServer, local_qwen: LocalEngine, start_proxy, redis_url: str, tmp_path: Path):
    def start(**sections: object) -> tuple[RunningServer, OpenAI]:
        proxy = start_proxy(qwen_config(emulator.url, local_qwen.url, redis_url, tmp_path / "spool", **sections))
        return proxy, OpenAI(base_url=f"{proxy.url}/v1", api_key="unused", max_retries=0, timeout=30)

    return start


def records(redis_url: str, n: int) -> list[Record]:
    assert wait_for_stream_length(redis_url, n) == n
    return ledger_records(redis_url)


def test_chat_json_on_the_real_engine_is_metered_as_reported(qwen_proxy, redis_url: str) -> None:
    proxy, client = qwen_proxy()
    raw = client.chat.completions.with_raw_response.create(model="qwen", messages=HELLO, temperature=0)
    answer = raw.parse()
    assert answer.choices[0].message.content == GREETING
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == DEFAULT_ALIAS  # llama.cpp answers with its alias, whatever was asked; the client sees it
    assert answer.usage.completion_tokens == GREETING_TOKENS
    assert answer.usage.prompt_tokens_details.cached_tokens == 0
    assert set(answer.model_extra["timings"]) >= {"prompt_n", "predicted_n", "cache_n"}  # passed through untouched
    assert raw.headers["x-routetax-tier"] == "qwen"

    (record,) = records(redis_url, 1)
    (attempt,) = record.attempts
    assert (attempt.tier, attempt.model, attempt.served_model) == ("qwen", QWEN_MODEL, DEFAULT_ALIAS)
    assert (attempt.status, attempt.ended_by, attempt.billed, attempt.cost_usd) == (200, "ok", True, 0.0)
    assert attempt.usage is not None and not attempt.usage.estimated
    assert (attempt.usage.prompt_tokens, attempt.usage.cached_tokens, attempt.usage.completion_tokens) == (
        answer.usage.prompt_tokens,
        0,
        GREETING_TOKENS,
    )
    assert attempt.usage.reasoning_tokens == 0  # llama.cpp reports none
    assert (record.tier_path, record.outcome, record.cost_usd, record.estimated) == (["qwen"], "success", 0.0, False)


def test_chat_stream_on_the_real_engine_carries_usage_and_timings(qwen_proxy, redis_url: str) -> None:
    _, client = qwen_proxy()
    chunks = list(
        client.chat.completions.create(
            model="qwen", messages=HELLO, temperature=0, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == GREETING
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens == GREETING_TOKENS
    assert "timings" in last.model_extra
    assert {c.model for c in chunks} == {DEFAULT_ALIAS}

    (record,) = records(redis_url, 1)
    (attempt,) = record.attempts
    assert record.stream and record.outcome == "success"
    assert attempt.served_model == DEFAULT_ALIAS and attempt.ttft_ms is not None
    assert (attempt.usage.prompt_tokens, attempt.usage.completion_tokens) == (
        last.usage.prompt_tokens,
        GREETING_TOKENS,
    )
    assert not attempt.usage.estimated and attempt.cost_usd == 0.0


def test_stream_without_usage_requested_still_metered_and_client_gets_no_usage_chunk(
    qwen_proxy, redis_url: str
) -> None:
    _, client = qwen_proxy()
    chunks = list(client.chat.completions.create(model="qwen", messages=HELLO, temperature=0, stream=True))
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)
    (record,) = records(redis_url, 1)
    assert record.usage is not None and record.usage.completion_tokens == GREETING_TOKENS and not record.estimated


def test_repeated_long_prefix_reports_cached_tokens_priced_zero_and_amortised_by_the_gpu_hour(
    qwen_proxy, redis_url: str
) -> None:
    proxy, client = qwen_proxy()
    policy = "Order policy. " + " ".join(f"Rule {i}: refunds for broken items are approved." for i in range(60))
    usages = []
    for question in ("Is order 7 refundable?", "And order 8?"):
        messages = [{"role": "system", "content": policy}, {"role": "user", "content": question}]
        answer = client.chat.completions.create(model="qwen", messages=messages, temperature=0)
        usages.append(answer.usage)
    first, second = usages
    assert first.prompt_tokens > 1000 and first.prompt_tokens_details.cached_tokens == 0
    cached = second.prompt_tokens_details.cached_tokens
    assert first.prompt_tokens - 20 < cached < second.prompt_tokens  # llama.cpp counts cached tokens exactly

    recs = sorted(records(redis_url, 2), key=lambda r: r.started_at)
    assert [r.usage.cached_tokens for r in recs] == [0, cached]
    assert [r.cost_usd for r in recs] == [0.0, 0.0]  # marginal: a self-hosted token costs nothing more
    served = sum(r.usage.total_tokens for r in recs)
    report = httpx.get(f"{proxy.url}/v1/routing-tax", params={"window": "1h"}).json()["measured"]
    hosted = report["self_hosted"]["qwen"]
    assert hosted["gpu_hour_usd"] == GPU_HOUR_USD
    assert hosted["usd_per_token"] == pytest.approx(GPU_HOUR_USD * hosted["gpu_hours"] / served)
    # amortised: the window's GPU-hours at the configured price, spread over every token served, cached or not
    assert report["spend"]["amortised_self_hosted"] == pytest.approx(GPU_HOUR_USD * hosted["gpu_hours"])


def test_full_tool_loop_on_the_real_engine_is_agentic(qwen_proxy, redis_url: str) -> None:
    _, client = qwen_proxy(policy={"agentic": "qwen"})
    loop: list[dict] = [{"role": "user", "content": "Customer C-1042 says order 7 arrived broken. Refund it."}]
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=loop, tools=TOOLS, temperature=0)
    call = raw.parse().choices[0]
    assert (raw.headers["x-routetax-class"], raw.headers["x-routetax-tier"]) == ("agentic", "qwen")
    assert call.finish_reason == "tool_calls"
    (tool_call,) = call.message.tool_calls
    assert tool_call.function.name == TOOL_NAME
    assert httpx.Response(200, content=tool_call.function.arguments).json() == TOOL_ARGUMENTS

    loop.append(call.message.model_dump(exclude_none=True))
    loop.append({"role": "tool", "tool_call_id": tool_call.id, "content": '{"ok": true, "status": "refunded"}'})
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=loop, tools=TOOLS, temperature=0)
    final = raw.parse().choices[0]
    assert (raw.headers["x-routetax-class"], raw.headers["x-routetax-tier"]) == ("agentic", "qwen")
    assert (final.message.content, final.finish_reason) == (TOOL_ANSWER, "stop")

    first, second = sorted(records(redis_url, 2), key=lambda r: r.started_at)
    for record, completion in ((first, TOOL_CALL_TOKENS), (second, TOOL_ANSWER_TOKENS)):
        assert (record.label, record.routed_tier, record.tier_path) == ("agentic", "qwen", ["qwen"])
        assert (record.outcome, record.degraded_reason, record.cost_usd) == ("success", None, 0.0)
        assert record.usage.completion_tokens == completion
    assert second.usage.prompt_tokens > first.usage.prompt_tokens


def test_streamed_tool_call_arrives_as_one_delta(qwen_proxy, redis_url: str) -> None:
    _, client = qwen_proxy()
    chunks = list(
        client.chat.completions.create(
            model="qwen",
            messages=HELLO,
            tools=TOOLS,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    deltas = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or ()]
    assert len(deltas) == 1  # llama.cpp sends name and arguments together (vLLM splits them)
    assert deltas[0].function.name == TOOL_NAME
    assert chunks[-1].usage.completion_tokens == TOOL_CALL_TOKENS
    (record,) = records(redis_url, 1)
    assert record.label == "agentic" and record.usage.completion_tokens == TOOL_CALL_TOKENS


def test_context_overflow_on_the_engine_falls_back_to_mini(qwen_proxy, redis_url: str, local_qwen: LocalEngine) -> None:
    _, client = qwen_proxy()
    huge = [{"role": "user", "content": "Summarise: " + "the router meters every token it served. " * 900}]
    raw = client.chat.completions.with_raw_response.create(model="qwen", messages=huge, temperature=0)
    assert raw.headers["x-routetax-tier"] == "mini"
    assert raw.parse().choices[0].message.content

    # the engine's own answer, straight from it: llama.cpp's shape, which routetax turns into OpenAI's
    direct = httpx.post(f"{local_qwen.url}/v1/chat/completions", json={"messages": huge}, timeout=30)
    assert direct.status_code == 400 and direct.json()["error"]["type"] == "exceed_context_size_error"
    error = orjson.loads(llamacpp.normalise_error(400, direct.content))["error"]
    assert (error["code"], error["param"]) == ("context_length_exceeded", "messages")
    assert f"the context size is {direct.json()['error']['n_ctx']}" in error["message"]

    (fell_back,) = records(redis_url, 1)
    overflow, served = fell_back.attempts
    assert (overflow.tier, overflow.status, overflow.reason) == ("qwen", 400, "context_length")
    assert overflow.ended_by == "fallback"
    assert not overflow.billed and overflow.usage is None
    assert (served.tier, served.status, served.billed) == ("mini", 200, True)
    assert fell_back.tier_path == ["qwen", "mini"] and fell_back.cost_usd == served.cost_usd > 0


def _breaker_open(proxy: RunningServer) -> float:
    for line in httpx.get(f"{proxy.url}/metrics").text.splitlines():
        if line.startswith('routetax_breaker_open{tier="qwen"}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no routetax_breaker_open sample for qwen")


def test_engine_killed_mid_stream_then_restarted_breaker_opens_then_closes(
    qwen_proxy, redis_url: str, local_qwen: LocalEngine
) -> None:
    proxy, client = qwen_proxy(resilience={"max_retries": 0, "breaker": {"consecutive_failures": 2, "cooldown_s": 1.0}})
    stream = client.chat.completions.create(
        model="qwen", messages=HELLO, stream=True, max_tokens=3000, extra_body={"ignore_eos": True}
    )
    received = []
    with pytest.raises(openai.APIError, match="broke off the stream"):
        for chunk in stream:
            received.append(chunk)
            if len(received) == 3:
                threading.Thread(target=local_qwen.kill).start()  # a crash, mid-answer
    assert len(received) >= 3

    for _ in range(2):  # the engine is down: each request falls back to mini, and the failures add up
        raw = client.chat.completions.with_raw_response.create(model="qwen", messages=HELLO)
        assert raw.headers["x-routetax-tier"] == "mini"
    assert _breaker_open(proxy) == 1.0
    raw = client.chat.completions.with_raw_response.create(model="qwen", messages=HELLO)
    assert raw.headers["x-routetax-tier"] == "mini"  # skipped at once while open

    local_qwen.start()  # same port
    time.sleep(1.1)  # the cooldown: the next request is the probe
    raw = client.chat.completions.with_raw_response.create(model="qwen", messages=HELLO, temperature=0)
    assert raw.headers["x-routetax-tier"] == "qwen" and raw.parse().choices[0].message.content == GREETING
    assert _breaker_open(proxy) == 0.0

    cut, down1, down2, skipped, probe = sorted(records(redis_url, 5), key=lambda r: r.started_at)
    (attempt,) = cut.attempts
    assert (cut.outcome, cut.status, attempt.ended_by) == ("failed", 502, "error")
    assert attempt.error_type.startswith("stream_") and attempt.served_model is None
    assert cut.estimated and attempt.usage.completion_tokens >= 1  # no usage chunk came: estimated, and marked
    for record in (down1, down2):
        assert [a.tier for a in record.attempts] == ["qwen", "mini"]
        assert record.attempts[0].error_type == "connect_error" and not record.attempts[0].billed
    assert skipped.skipped_tiers == {"qwen": "breaker_open"} and skipped.tier_path == ["mini"]
    assert probe.tier_path == ["qwen"] and probe.usage.completion_tokens == GREETING_TOKENS


def test_demo_with_qwen_local_measures_the_self_hosted_tier_on_real_engine_traffic(
    llama_server_binary: Path, processes: Processes
) -> None:
    # Every task explored, drawn once per task among nano, mini and qwen: no task on qwen in 24 is (2/3)^24 < 1e-4.
    command = [sys.executable, "-m", "cli", "demo", "--tasks", "24", "--agentic-share", "0.5"]
    result = processes.run(
        [*command, "--explore", "1.0", "--qwen", "local", "--llama-server", str(llama_server_binary), "--json"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert "qwen tier REAL: llama.cpp at http://127.0.0.1:" in result.stderr
    measured = json.loads(result.stdout)["measured"]
    qwen = [cell for cell in measured["cells"] if cell["tier"] == "qwen"]
    assert sum(cell["requests"] for cell in qwen) > 0  # explored traffic reached the real engine
    assert measured["self_hosted"]["qwen"]["usd_per_token"] > 0
    assert measured["spend"]["amortised_self_hosted"] > 0
    assert {"qwen_only", "agentic_to_qwen"} <= set(measured["policies"])


def test_demo_without_qwen_local_says_the_qwen_tier_is_emulated(processes: Processes) -> None:
    command = [sys.executable, "-m", "cli", "demo", "--tasks", "2", "--json"]
    result = processes.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "qwen tier EMULATED" in result.stderr
