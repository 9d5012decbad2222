"""What to do after an attempt: retry, fall back, redo, or answer — and the circuit breaker.

Pure decisions, kept apart from the I/O in `router.proxy` so that each rule reads as one
line and can be tested alone. The retry rules follow the openai SDK's own (the client's
expectations): connection errors, timeouts, 408, 409, 429 and 5xx are retried with
exponential backoff and jitter, honouring `retry-after-ms` / `Retry-After`; a quota 429,
a context-length 400 and other 4xx are not.
"""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson

RETRYABLE_STATUS = frozenset({408, 409, 429})


class Next(Enum):
    ANSWER = "answer"  # give the client this answer (success, or a client error)
    RETRY = "retry"  # same tier again, after a backoff
    FALLBACK = "fallback"  # next tier of the chain
    LARGER_WINDOW = "larger_window"  # a tier with a larger context window
    REDO = "redo"  # the answer came but is unusable (degraded): the next tier does the work again


@dataclass(frozen=True, slots=True)
class Step:
    """What to do after an attempt, and why."""

    next: Next
    reason: str  # a bounded label: rate_limit, server_error, timeout, connect_error, quota, context_length, ...


def judge_status(status: int, error_code: str | None) -> Step:
    """The next step after an HTTP answer from the upstream (before looking at its content)."""
    if status < 400:
        return Step(Next.ANSWER, "ok")
    if status == 429 and error_code == "insufficient_quota":
        return Step(Next.FALLBACK, "quota")
    if status == 400 and error_code == "context_length_exceeded":
        return Step(Next.LARGER_WINDOW, "context_length")
    if status == 429:
        return Step(Next.RETRY, "rate_limit")
    if status in RETRYABLE_STATUS:
        return Step(Next.RETRY, "timeout" if status == 408 else "conflict")
    if status >= 500:
        return Step(Next.RETRY, "server_error")
    return Step(Next.ANSWER, "client_error")


def judge_failure(kind: str) -> Step:
    """No HTTP answer at all (connect error, timeout, broken connection): always worth a retry."""
    return Step(Next.RETRY, kind)


def backoff_seconds(retry_index: int, headers: Any | None, cap_s: float, rng: random.Random | None = None) -> float:
    """How long to wait before retry number `retry_index` (0-based).

    The server's own word wins (`retry-after-ms`, then `Retry-After` in seconds), up to
    `cap_s`; otherwise min(0.5·2^n, 8 s) × (1 − 0.25·random), the openai SDK's formula.
    """
    if headers is not None:
        for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
            value = headers.get(name)
            if value is None:
                continue
            try:
                seconds = float(value) * scale
            except ValueError:
                continue
            if 0 <= seconds <= cap_s:
                return seconds
    jitter = 1 - 0.25 * (rng or random).random()
    return min(0.5 * 2**retry_index, 8.0) * jitter


def degraded_reason(request: dict[str, Any], answer: bytes) -> str | None:
    """Why a 2xx chat answer is unusable, per cost-model.md §3 — or None when it is fine.

    Tool-call arguments that are not valid JSON, a tool name the request did not declare,
    empty output with `finish_reason` stop, `finish_reason` length with nothing usable.
    """
    try:
        data = orjson.loads(answer)
        choice = data["choices"][0]
        message = choice.get("message") or {}
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        return "unparseable"
    finish = choice.get("finish_reason")
    calls = message.get("tool_calls") or []
    content = message.get("content")
    has_text = isinstance(content, str) and content.strip() != ""
    if calls:
        declared = declared_tool_names(request)
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict):
                return "bad_tool_call"
            if declared is not None and function.get("name") not in declared:
                return "undeclared_tool"
            try:
                orjson.loads(function.get("arguments") or "")
            except orjson.JSONDecodeError:
                return "bad_tool_json"
        return None
    if finish == "length" and not has_text:
        return "length_nothing_usable"
    if finish == "stop" and not has_text and not message.get("refusal"):
        return "empty"
    return None


def declared_tool_names(request: dict[str, Any]) -> set[str] | None:
    """Names of the functions the request offered (None when it offered none, so nothing to check)."""
    names: set[str] = set()
    for tool in request.get("tools") or ():
        if isinstance(tool, dict):
            function = tool.get("function")
            name = function.get("name") if isinstance(function, dict) else tool.get("name")
            if isinstance(name, str):
                names.add(name)
    for function in request.get("functions") or ():
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.add(function["name"])
    return names or None


class BreakerState(Enum):
    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


@dataclass
class CircuitBreaker:
    """Per-tier breaker: opens on consecutive failures or a failure rate over a window.

    While open the tier is skipped at once (no connect attempt, no added latency); after
    the cooldown one probe request goes through (half-open); its success closes the
    breaker, its failure opens it again for another cooldown.
    """

    consecutive_failures: int = 5
    failure_rate: float = 0.5
    window_s: float = 30.0
    min_requests: int = 20
    cooldown_s: float = 10.0
    state: BreakerState = BreakerState.CLOSED
    opened_until: float = 0.0
    _consecutive: int = 0
    _events: deque[tuple[float, bool]] = field(default_factory=deque)
    _probe_in_flight: bool = False

    def allow(self, now: float | None = None) -> bool:
        """May a request go to this tier now? In half-open, only one probe at a time."""
        now = time.monotonic() if now is None else now
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN and now >= self.opened_until:
            self.state = BreakerState.HALF_OPEN
            self._probe_in_flight = False
        if self.state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def record(self, success: bool, now: float | None = None) -> bool:
        """Count one outcome; returns True when this outcome opened the breaker."""
        now = time.monotonic() if now is None else now
        if self.state is BreakerState.HALF_OPEN:
            self._probe_in_flight = False
            if success:
                self._close()
                return False
            self._open(now)
            return True
        self._events.append((now, success))
        while self._events and self._events[0][0] < now - self.window_s:
            self._events.popleft()
        if success:
            self._consecutive = 0
            return False
        self._consecutive += 1
        failures = sum(1 for _, ok in self._events if not ok)
        too_many = self._consecutive >= self.consecutive_failures
        too_often = len(self._events) >= self.min_requests and failures / len(self._events) >= self.failure_rate
        if self.state is BreakerState.CLOSED and (too_many or too_often):
            self._open(now)
            return True
        return False

    def state_name(self, now: float | None = None) -> str:
        """closed, open or half_open — as an operator reads it (an expired open state reads half_open)."""
        now = time.monotonic() if now is None else now
        if self.state is BreakerState.OPEN and now >= self.opened_until:
            return "half_open"
        return self.state.name.lower()

    def force_open(self, until_monotonic: float) -> None:
        """Adopt an open state learned from another replica."""
        if until_monotonic > self.opened_until:
            self.state, self.opened_until = BreakerState.OPEN, until_monotonic

    def _open(self, now: float) -> None:
        self.state, self.opened_until = BreakerState.OPEN, now + self.cooldown_s
        self._consecutive = 0
        self._events.clear()

    def _close(self) -> None:
        self.state, self._consecutive = BreakerState.CLOSED, 0
        self._events.clear()
