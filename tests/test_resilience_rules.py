"""Degraded answers and the circuit breaker (the retry rules themselves: tests/test_walker.py)."""

from __future__ import annotations

import orjson
import pytest

from router.serving.answers import degraded_reason, response_degraded
from router.serving.breaker import BreakerState, CircuitBreaker


def answer(message: dict, finish: str = "stop") -> bytes:
    return orjson.dumps({"choices": [{"index": 0, "message": message, "finish_reason": finish}]})


TOOLS_REQUEST = {"tools": [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]}


@pytest.mark.parametrize(
    ("message", "finish", "reason"),
    [
        ({"content": "fine"}, "stop", None),
        ({"content": ""}, "stop", "empty"),
        ({"content": None}, "stop", "empty"),
        ({"content": None, "refusal": "I can't help with that."}, "stop", None),
        ({"content": ""}, "length", "length_nothing_usable"),
        ({"content": "partial answer"}, "length", None),
        ({"tool_calls": [{"function": {"name": "lookup", "arguments": '{"q": 1}'}}]}, "tool_calls", None),
        ({"tool_calls": [{"function": {"name": "lookup", "arguments": '{"q": '}}]}, "tool_calls", "bad_tool_json"),
        ({"tool_calls": [{"function": {"name": "rm_rf", "arguments": "{}"}}]}, "tool_calls", "undeclared_tool"),
    ],
)
def test_degraded_output_definitions(message: dict, finish: str, reason: str | None) -> None:
    assert degraded_reason(TOOLS_REQUEST, answer(message, finish)) == reason


def test_breaker_opens_after_consecutive_failures_and_probes_after_cooldown() -> None:
    breaker = CircuitBreaker(consecutive_failures=3, cooldown_s=10)
    for _ in range(2):
        assert breaker.record(False, now=0) is False
    assert breaker.record(False, now=0) is True
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow(now=5)  # skipped at once while open
    assert breaker.allow(now=10.1)  # one probe after the cooldown
    assert not breaker.allow(now=10.2)  # and only one
    breaker.record(True, now=10.3)
    assert breaker.state is BreakerState.CLOSED and breaker.allow(now=10.4)


def test_failed_probe_reopens_the_breaker() -> None:
    breaker = CircuitBreaker(consecutive_failures=1, cooldown_s=10)
    breaker.record(False, now=0)
    assert breaker.allow(now=11)
    assert breaker.record(False, now=11) is True
    assert not breaker.allow(now=15) and breaker.allow(now=21.5)


def test_breaker_opens_on_failure_rate_over_the_window() -> None:
    breaker = CircuitBreaker(consecutive_failures=100, failure_rate=0.5, window_s=30, min_requests=10)
    opened = False
    for i in range(10):
        opened = breaker.record(i % 2 == 0, now=i) or opened  # alternate: never two failures in a row
    assert opened and breaker.state is BreakerState.OPEN


def test_old_failures_leave_the_window() -> None:
    fresh = CircuitBreaker(consecutive_failures=100, failure_rate=0.5, window_s=30, min_requests=4)
    fresh.record(False, now=0)
    fresh.record(False, now=1)
    for t in range(100, 104):
        fresh.record(True, now=t)
    assert fresh.state is BreakerState.CLOSED


def message_output(text: str) -> dict:
    return {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        ({"status": "completed", "output": [message_output("fine")]}, None),
        ({"status": "completed", "output": [message_output("  ")]}, "empty"),
        ({"status": "completed", "output": [{"type": "reasoning", "summary": []}]}, "empty"),
        (
            {
                "status": "completed",
                "output": [{"type": "message", "content": [{"type": "refusal", "refusal": "No."}]}],
            },
            None,
        ),
        (
            {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}, "output": []},
            "length_nothing_usable",
        ),
        (
            {"status": "completed", "output": [{"type": "function_call", "name": "lookup", "arguments": '{"q": 1}'}]},
            None,
        ),
        (
            {"status": "completed", "output": [{"type": "function_call", "name": "lookup", "arguments": '{"q'}]},
            "bad_tool_json",
        ),
        (
            {"status": "completed", "output": [{"type": "function_call", "name": "rm_rf", "arguments": "{}"}]},
            "undeclared_tool",
        ),
        ({"status": "completed", "output": [{"type": "web_search_call", "status": "completed"}]}, None),
        ({"status": "failed", "output": []}, None),
    ],
)
def test_degraded_responses_by_the_chat_definitions(response: dict, reason: str | None) -> None:
    request = {"tools": [{"type": "function", "name": "lookup", "parameters": {}}]}
    assert response_degraded(request, response) == reason
