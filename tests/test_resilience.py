"""Acceptance for resilience: openai SDK -> proxy -> emulator with scripted outcomes, every attempt on the record."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest
from openai import OpenAI

from demo.world import demo_config
from emulator.app import build_emulator
from router.config import Config
from router.servers import RunningServer, bind_socket
from tests.conftest import script
from tests.running import Servers
from tests.test_proxy_acceptance import HELLO, TOOLS, records
from tests.waiting import wait_until

FAST_BREAKER = {"resilience": {"breaker": {"consecutive_failures": 3, "cooldown_s": 1.0}}}


def sdk(proxy: RunningServer) -> OpenAI:
    return OpenAI(base_url=f"{proxy.url}/v1", api_key="x", max_retries=0, timeout=30)


def test_429_with_retry_after_is_retried_after_it_and_succeeds(
    client: OpenAI, proxy: RunningServer, emulator: RunningServer
) -> None:
    script(emulator, "gpt-5.4-nano", outcomes=["429"])
    started = time.monotonic()
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    assert time.monotonic() - started >= 1.0  # Retry-After: 1 honoured
    assert raw.headers["x-routetax-tier"] == "nano"
    [record] = records(proxy, 1)
    assert [(a.tier, a.status, a.ended_by) for a in record.attempts] == [("nano", 429, "retry"), ("nano", 200, "ok")]
    assert record.retries == 1 and record.attempts[0].reason == "rate_limit"
    assert record.outcome == "success"


def test_tier_failing_every_try_falls_back_to_the_next(
    client: OpenAI, proxy: RunningServer, emulator: RunningServer
) -> None:
    script(emulator, "gpt-5.4-nano", outcomes=["500", "500", "500"])
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    assert raw.http_response.status_code == 200
    assert raw.headers["x-routetax-tier"] == "mini"
    [record] = records(proxy, 1)
    assert [a.tier for a in record.attempts] == ["nano", "nano", "nano", "mini"]
    assert record.attempts[2].ended_by == "fallback" and record.attempts[2].reason == "server_error"
    assert record.retries == 2 and record.fallbacks == 1 and record.tier_path == ["nano", "mini"]
    assert not any(a.billed for a in record.attempts[:3])  # failed attempts were not billed


def test_fallback_off_keeps_a_pinned_request_on_its_tier(
    client: OpenAI, proxy: RunningServer, emulator: RunningServer
) -> None:
    script(emulator, "gpt-5.4-mini", outcomes=["503", "503", "503"])
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="mini", messages=HELLO, extra_headers={"x-routetax-fallback": "off"})
    [record] = records(proxy, 1)
    assert {a.tier for a in record.attempts} == {"mini"} and record.outcome == "failed"


def test_breaker_opens_on_a_dead_tier_skips_it_and_closes_after_a_probe(
    emulator: RunningServer, start_proxy, serve_in_thread: Servers
) -> None:
    dead = bind_socket()  # nano's port: bound, not listening, so connections are refused
    nano_port = dead.getsockname()[1]
    dead.close()
    base = demo_config(emulator.url, Config.model_validate(FAST_BREAKER))
    tiers = {**base.model_dump()["tiers"]}
    tiers["nano"]["base_url"] = f"http://127.0.0.1:{nano_port}/v1"
    proxy = start_proxy(Config.model_validate({**base.model_dump(), "tiers": tiers}))
    client = sdk(proxy)

    first = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    assert first.headers["x-routetax-tier"] == "mini"  # three refused connects, then the fallback
    started = time.monotonic()
    second = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    assert second.headers["x-routetax-tier"] == "mini"
    assert time.monotonic() - started < 0.5  # no backoff, no connect attempt
    one, two = records(proxy, 2)
    assert [a.error_type for a in one.attempts[:3]] == ["connect_error"] * 3
    assert two.skipped_tiers == {"nano": "breaker_open"} and [a.tier for a in two.attempts] == ["mini"]
    ready = httpx.get(f"{proxy.url}/readyz").json()
    assert ready["breakers"]["nano"] == "open"

    nano = serve_in_thread(build_emulator(seed=5), port=nano_port, name="nano-back")
    try:
        wait_until(  # the cooldown ends: the next request is the probe
            lambda: httpx.get(f"{proxy.url}/readyz").json()["breakers"]["nano"] == "half_open", "nano's cooldown"
        )
        third = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO)
        assert third.headers["x-routetax-tier"] == "nano"  # the probe went through and closed the breaker
        assert httpx.get(f"{proxy.url}/readyz").json()["breakers"]["nano"] == "closed"
    finally:
        nano.stop()


def test_invalid_tool_call_json_is_redone_on_the_next_tier(
    client: OpenAI, proxy: RunningServer, emulator: RunningServer
) -> None:
    script(emulator, "gpt-5.4-nano", outcomes=["bad_tool_json"])
    raw = client.chat.completions.with_raw_response.create(
        model="nano", messages=[{"role": "user", "content": "Weather in Oslo?"}], tools=TOOLS
    )
    call = raw.parse().choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"city": "example"}  # the client's call is valid
    assert raw.headers["x-routetax-tier"] == "mini"
    [record] = records(proxy, 1)
    wasted, served = record.attempts
    assert (wasted.tier, wasted.ended_by, wasted.reason) == ("nano", "redo", "bad_tool_json")
    assert wasted.billed and wasted.usage.completion_tokens > 0  # the wasted nano spend is on the record
    assert served.tier == "mini" and record.outcome == "success"


def test_degraded_answer_on_the_last_tier_is_returned_and_marked(
    client: OpenAI, proxy: RunningServer, emulator: RunningServer
) -> None:
    script(emulator, "gpt-5.4", outcomes=["empty"])
    answer = client.chat.completions.create(model="full", messages=HELLO)
    assert answer.choices[0].message.content == ""
    [record] = records(proxy, 1)
    assert record.outcome == "degraded" and record.degraded_reason == "empty"


def test_insufficient_quota_is_not_retried(client: OpenAI, proxy: RunningServer, emulator: RunningServer) -> None:
    script(emulator, "gpt-5.4-nano", outcomes=["429_quota"])
    started = time.monotonic()
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    assert time.monotonic() - started < 0.5
    [record] = records(proxy, 1)
    assert [(a.tier, a.reason) for a in record.attempts] == [("nano", "quota"), ("mini", None)]
    assert record.retries == 0 and raw.headers["x-routetax-tier"] == "mini"


def test_context_length_exceeded_moves_to_a_larger_window(
    client: OpenAI, proxy: RunningServer, emulator: RunningServer
) -> None:
    script(emulator, "gpt-5.4-nano", outcomes=["context_length_exceeded"])
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    assert raw.headers["x-routetax-tier"] == "full"  # mini has the same 272K window: skipped
    [record] = records(proxy, 1)
    assert [a.tier for a in record.attempts] == ["nano", "full"] and record.retries == 0


def test_stream_whose_upstream_fails_before_the_first_byte_falls_back(
    client: OpenAI, proxy: RunningServer, emulator: RunningServer
) -> None:
    script(emulator, "gpt-5.4-nano", outcomes=["503", "503", "503"])
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text and raw.headers["x-routetax-tier"] == "mini"


def test_stream_that_dies_after_the_first_byte_ends_with_an_error_event_and_a_metered_partial(
    client: OpenAI, proxy: RunningServer, emulator: RunningServer
) -> None:
    script(emulator, "gpt-5.4-nano", outcomes=["disconnect_mid_stream"])
    received = []
    with pytest.raises(openai.APIError, match="broke off the stream"):
        for chunk in client.chat.completions.create(model="auto", messages=HELLO, stream=True):
            received.append(chunk)
    assert received  # the client had the first bytes
    [record] = records(proxy, 1)
    assert record.outcome == "failed" and record.estimated and record.usage.completion_tokens > 0


def test_held_tool_call_stream_is_redone_when_broken(emulator: RunningServer, start_proxy) -> None:
    base = demo_config(emulator.url).model_dump()
    base["tiers"]["nano"]["hold_tool_calls"] = True
    proxy = start_proxy(Config.model_validate(base))
    script(emulator, "gpt-5.4-nano", outcomes=["bad_tool_json"])
    raw = sdk(proxy).chat.completions.with_raw_response.create(
        model="nano", messages=[{"role": "user", "content": "Weather?"}], tools=TOOLS, stream=True
    )
    arguments = "".join(
        c.choices[0].delta.tool_calls[0].function.arguments or ""
        for c in raw.parse()
        if c.choices and c.choices[0].delta.tool_calls
    )
    assert json.loads(arguments) == {"city": "example"}
    assert raw.headers["x-routetax-tier"] == "mini"
    [record] = records(proxy, 1)
    assert [(a.tier, a.ended_by) for a in record.attempts] == [("nano", "redo"), ("mini", "ok")]
    assert record.attempts[0].billed  # the held, discarded stream was still paid for


def test_deadline_header_bounds_all_attempts(client: OpenAI, proxy: RunningServer, emulator: RunningServer) -> None:
    script(emulator, "gpt-5.4-nano", outcomes=["429", "429", "429"])
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(
            model="nano", messages=HELLO, extra_headers={"x-routetax-deadline-ms": "500", "x-routetax-fallback": "off"}
        )
    assert time.monotonic() - started < 1.0  # the 1 s Retry-After does not fit in a 500 ms deadline


def test_an_empty_streamed_answer_is_redone_through_the_sdk(
    client: OpenAI, proxy: RunningServer, emulator: RunningServer
) -> None:
    script(emulator, "gpt-5.4-nano", outcomes=["empty"])
    stream = client.chat.completions.create(model="nano", messages=HELLO, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text.strip()  # the client got mini's answer, never nano's empty one
    [record] = records(proxy, 1)
    assert [(a.tier, a.ended_by, a.reason) for a in record.attempts] == [
        ("nano", "redo", "empty"),
        ("mini", "ok", None),
    ]
    assert record.outcome == "success" and record.attempts[0].billed  # the wasted answer stays on the bill


def test_an_empty_responses_stream_is_redone_through_the_sdk(
    client: OpenAI, proxy: RunningServer, emulator: RunningServer
) -> None:
    script(emulator, "gpt-5.4-nano", outcomes=["empty"])
    events = list(client.responses.create(model="nano", input="Say hello.", stream=True))
    completed = events[-1]
    assert completed.type == "response.completed" and completed.response.output_text.strip()
    assert completed.response.model == "gpt-5.4-mini"
    [record] = records(proxy, 1)
    assert [(a.tier, a.ended_by) for a in record.attempts] == [("nano", "redo"), ("mini", "ok")]


def test_an_empty_stream_no_tier_can_redo_is_relayed_and_marked_degraded(
    client: OpenAI, proxy: RunningServer, emulator: RunningServer
) -> None:
    script(emulator, "gpt-5.4-mini", outcomes=["empty"])
    stream = client.chat.completions.create(
        model="mini", messages=HELLO, stream=True, extra_headers={"x-routetax-fallback": "off"}
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == ""
    [record] = records(proxy, 1)
    assert (record.outcome, record.degraded_reason) == ("degraded", "empty")


def test_a_stream_whose_tool_call_breaks_after_it_was_relayed_is_marked_degraded(
    client: OpenAI, proxy: RunningServer, emulator: RunningServer
) -> None:
    script(emulator, "gpt-5.4-mini", outcomes=["bad_tool_json"])
    stream = client.chat.completions.create(model="mini", messages=HELLO, tools=TOOLS, stream=True)
    list(stream)  # mini does not hold tool calls: relayed as it came
    [record] = records(proxy, 1)
    assert (record.outcome, record.degraded_reason) == ("degraded", "bad_tool_json")
    assert [a.tier for a in record.attempts] == ["mini"]
