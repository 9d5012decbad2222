"""The pure rules behind retries, fallbacks, redo and the circuit breaker."""

from __future__ import annotations

import random

import orjson
import pytest

from router.resilience import (
    BreakerState,
    CircuitBreaker,
    Next,
    backoff_seconds,
    degraded_reason,
    judge_failure,
    judge_status,
)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (200, None, Next.ANSWER),
        (408, None, Next.RETRY),
        (409, None, Next.RETRY),
        (429, "rate_limit_exceeded", Next.RETRY),
        (429, "insufficient_quota", Next.FALLBACK),
        (500, None, Next.RETRY),
        (503, None, Next.RETRY),
        (400, "context_length_exceeded", Next.LARGER_WINDOW),
        (400, "invalid_value", Next.ANSWER),
        (401, None, Next.ANSWER),
        (404, "model_not_found", Next.ANSWER),
    ],
)
def test_which_answers_are_retried(status: int, code: str | None, expected: Next) -> None:
    assert judge_status(status, code).next is expected


def test_connection_failures_are_retried() -> None:
    for kind in ("connect_error", "timeout", "protocol_error"):
        assert judge_failure(kind).next is Next.RETRY


def test_backoff_follows_the_sdk_formula_with_jitter() -> None:
    rng = random.Random(1)
    for n, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        wait = backoff_seconds(n, None, cap_s=20, rng=rng)
        assert 0.75 * ceiling <= wait <= ceiling


def test_backoff_honours_retry_after_headers_up_to_the_cap() -> None:
    assert backoff_seconds(0, {"retry-after-ms": "1500"}, cap_s=20) == 1.5
    assert backoff_seconds(0, {"retry-after": "2"}, cap_s=20) == 2.0
    assert backoff_seconds(0, {"retry-after": "60"}, cap_s=20) <= 0.5  # beyond the cap: the formula
    assert backoff_seconds(0, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, cap_s=20) <= 0.5


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
