"""The attempt walker: after each attempt, what next. Every retry, fallback and redo rule lives here.

A request's plan is a list of tiers (the class's tier, then its fallback chain). After each
attempt — or each tier skipped without one — `next_step` decides, from what the attempt produced
and nothing else, the next move: answer, retry the same tier after a wait, fall back to the next
tier, redo a degraded answer on the next tier, or give up. It is a pure function of its
arguments (the clock and the random source are arguments too), so each rule is one row of a
table in tests/test_walker.py. `walk` is the loop around it, with the attempt itself, the
sleep and the clock passed in: the proxy gives it network I/O, the tests give it a script.

The rules follow the openai SDK's own (what a client expects of a retrying layer): connection
failures, timeouts, 408, 409, 429 and 5xx are retried with exponential backoff and jitter,
honouring the server's `retry-after-ms` / `Retry-After` up to a cap; a quota 429 falls back at
once; a context-length 400 moves to a tier with a larger window; other 4xx are the client's to
fix and are answered. A rate limit (429) is not ill health: it never counts against the tier's
circuit breaker.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any

RETRYABLE_STATUS = frozenset({408, 409, 429})
MAX_BACKOFF_S = 8.0


class Kind(Enum):
    """What one attempt produced, as the walker needs to know it."""

    OK = "ok"  # a usable 2xx answer, or a stream whose first visible event has arrived
    DEGRADED = "degraded"  # a 2xx answer that cannot be used (broken tool call, empty output, ...)
    HTTP_ERROR = "http_error"  # the upstream answered an HTTP error
    NO_ANSWER = "no_answer"  # no usable HTTP answer: connect error, timeout, broken connection, a non-JSON 2xx
    DEADLINE = "deadline"  # the request's deadline passed while waiting on the tier
    SKIPPED = "skipped"  # not attempted: the tier's breaker is open, or the prompt exceeds its window


class Move(Enum):
    ANSWER = "answer"  # give the client this attempt's answer
    RETRY = "retry"  # the same tier again, after `wait_s`
    FALLBACK = "fallback"  # the next tier of the plan
    REDO = "redo"  # the answer came but is unusable: the next tier does the work again
    GIVE_UP = "give_up"  # nothing more is worth trying: answer the last failure


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt (or skipped tier), reduced to what the rules look at."""

    kind: Kind
    status: int = 0
    reason: str = ""  # the error code, failure kind, degraded reason or skip reason (a bounded label)
    retry_after_s: float | None = None  # the server's own wait (or a skipped breaker's cooldown left)

    @staticmethod
    def ok(status: int = 200) -> Outcome:
        return Outcome(Kind.OK, status, "ok")

    @staticmethod
    def http_error(status: int, error_code: str | None, headers: Any = None, now: float | None = None) -> Outcome:
        return Outcome(Kind.HTTP_ERROR, status, error_code or "", server_wait_s(headers, now))


@dataclass(frozen=True, slots=True)
class Rules:
    """The knobs (configuration's `resilience`), and each tier's context window for context-length moves."""

    max_retries: int = 2
    retry_after_cap_s: float = 20.0
    windows: Mapping[str, int | None] = field(default_factory=dict)  # every configured tier, in config order
    grow: bool = True  # a context-length error may add a tier outside the plan (off: `x-routetax-fallback: off`)


@dataclass(frozen=True, slots=True)
class Position:
    """Where the walk is: the plan (which a context-length error can rewrite), the tier, its retries so far."""

    plan: tuple[str, ...]
    index: int = 0
    retries: int = 0

    @property
    def tier(self) -> str:
        return self.plan[self.index]

    @property
    def has_next(self) -> bool:
        return self.index + 1 < len(self.plan)

    def advanced(self) -> Position:
        return Position(self.plan, self.index + 1)


@dataclass(frozen=True, slots=True)
class Step:
    """The walker's decision after one outcome."""

    move: Move
    reason: str  # a bounded label: ok, rate_limit, server_error, quota, context_length, breaker_open, deadline, ...
    position: Position | None = None  # where the next attempt goes (RETRY, FALLBACK, REDO)
    wait_s: float = 0.0  # RETRY: how long to wait first
    healthy: bool | None = None  # for the tier's breaker; None: the tier was not attempted


def server_wait_s(headers: Any, now: float | None = None) -> float | None:
    """The server's own word on when to retry, in seconds, or None when it gave none that can be read.

    `retry-after-ms` first, then `Retry-After` as seconds or as an HTTP date. A value that cannot be
    read (`soon`, negative, not finite) is ignored and the next header is read — the one parsing
    both the wait and the cap decision use.
    """
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            seconds = _http_date_wait(value, now) if scale == 1.0 else math.nan
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def _http_date_wait(value: str, now: float | None) -> float:
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return math.nan
    return max(when - (time.time() if now is None else now), 0.0)


def backoff_s(retry_index: int, rng: random.Random | Any = random) -> float:
    """min(0.5·2^n, 8 s) × (1 − 0.25·random): the openai SDK's own formula, for retry number n (0-based)."""
    return min(0.5 * 2**retry_index, MAX_BACKOFF_S) * (1 - 0.25 * rng.random())


def judge(outcome: Outcome) -> tuple[Move, str, bool | None]:
    """The intended move for an outcome on its own (before retries left, waits and the deadline are weighed).

    Returns (move, reason, healthy); RETRY here means "worth retrying".
    """
    kind, status, code = outcome.kind, outcome.status, outcome.reason
    if kind is Kind.OK:
        return Move.ANSWER, "ok", True
    if kind is Kind.DEGRADED:
        return Move.REDO, code, True  # the tier answered; the answer is the model's failing, not the tier's
    if kind is Kind.SKIPPED:
        return Move.FALLBACK, code, None
    if kind is Kind.DEADLINE:
        return Move.GIVE_UP, "deadline", False
    if kind is Kind.NO_ANSWER:
        return Move.RETRY, code, False
    if status == 429 and code == "insufficient_quota":
        return Move.FALLBACK, "quota", True
    if status == 400 and code == "context_length_exceeded":
        return Move.FALLBACK, "context_length", True
    if status == 429:
        return Move.RETRY, "rate_limit", True  # a rate limit is not ill health: back off or fall back
    if status in RETRYABLE_STATUS:
        return Move.RETRY, "timeout" if status == 408 else "conflict", False
    if status >= 500:
        return Move.RETRY, "server_error", False
    return Move.ANSWER, "client_error", True


def next_step(
    at: Position,
    outcome: Outcome,
    rules: Rules,
    *,
    now: float,
    deadline: float,
    rng: random.Random | Any = random,
) -> Step:
    """What to do after `outcome` on `at.tier`. Pure: `now` and `deadline` are monotonic seconds."""
    move, reason, healthy = judge(outcome)
    if move is Move.ANSWER:
        return Step(Move.ANSWER, reason, healthy=healthy)
    if move is Move.GIVE_UP:
        return Step(Move.GIVE_UP, reason, healthy=healthy)
    if move is Move.RETRY and at.retries < rules.max_retries:
        hinted = outcome.retry_after_s
        if hinted is None or hinted <= rules.retry_after_cap_s:  # a longer wait: move on instead
            wait = hinted if hinted is not None else backoff_s(at.retries, rng)
            if now + wait < deadline:
                return Step(Move.RETRY, reason, replace(at, retries=at.retries + 1), wait, healthy)
    if move is Move.REDO and not at.has_next:
        return Step(Move.ANSWER, reason, healthy=healthy)  # nothing left to redo it on: the degraded answer
    if reason == "context_length" and outcome.kind is Kind.HTTP_ERROR:
        at = larger_window(at, rules)
    if not at.has_next:
        return Step(Move.GIVE_UP, reason, healthy=healthy)
    if now >= deadline:
        return Step(Move.GIVE_UP, "deadline", healthy=healthy)
    return Step(Move.REDO if move is Move.REDO else Move.FALLBACK, reason, at.advanced(), healthy=healthy)


def larger_window(at: Position, rules: Rules) -> Position:
    """After a context-length error: keep only later tiers with a larger window, else add the next larger one."""
    windows = rules.windows
    current = windows.get(at.tier) or 0
    later = [t for t in at.plan[at.index + 1 :] if (windows.get(t) or 0) > current]
    if not later and rules.grow:
        bigger = sorted((t for t, w in windows.items() if (w or 0) > current and t not in at.plan), key=windows.get)
        later = bigger[:1]
    return Position(at.plan[: at.index + 1] + tuple(later), at.index, at.retries)


@dataclass(frozen=True, slots=True)
class Turn:
    """One stop of a walk: the tier, what happened there, and what the walker decided."""

    tier: str
    outcome: Outcome
    step: Step


@dataclass(slots=True)
class Walked:
    """A finished walk: every turn in order, and the time spent waiting between retries."""

    turns: list[Turn]
    waited_s: float = 0.0

    @property
    def last(self) -> Turn:
        return self.turns[-1]

    @property
    def attempted(self) -> bool:
        return any(turn.outcome.kind is not Kind.SKIPPED for turn in self.turns)

    def retry_after_s(self) -> float | None:
        """When nothing was attempted: the soonest a skipped tier (an open breaker) takes traffic again."""
        waits = [t.outcome.retry_after_s for t in self.turns if t.outcome.retry_after_s is not None]
        return min(waits) if waits else None


async def walk(
    plan: list[str],
    rules: Rules,
    deadline: float,
    attempt: Callable[[Position], Awaitable[Outcome]],
    skip: Callable[[str], Awaitable[Outcome | None]] | None = None,
    health: Callable[[str, bool], None] | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    rng: random.Random | Any = random,
    into: Walked | None = None,
    on_turn: Callable[[Turn], None] | None = None,
) -> Walked:
    """Walk `plan` until an answer or the end: attempt, ask `next_step`, wait or move, repeat.

    `skip(tier)` says why a tier is not to be attempted now (an Outcome of kind SKIPPED) or None;
    `health(tier, healthy)` is told each attempted tier's health, for its breaker. The turns are
    added to `into` as they happen, so a walk cut short (the client left) still tells how far it got;
    `on_turn(turn)` hears of each as it happens (the log: a failure is said before its retry's wait).
    """
    at = Position(tuple(plan))
    walked = Walked([]) if into is None else into
    while True:
        outcome = (await skip(at.tier) if skip is not None else None) or await attempt(at)
        step = next_step(at, outcome, rules, now=clock(), deadline=deadline, rng=rng)
        turn = Turn(at.tier, outcome, step)
        walked.turns.append(turn)
        if on_turn is not None:
            on_turn(turn)
        if health is not None and step.healthy is not None:
            health(at.tier, step.healthy)
        if step.move in (Move.ANSWER, Move.GIVE_UP):
            return walked
        if step.move is Move.RETRY:
            await sleep(step.wait_s)
            walked.waited_s += step.wait_s
        assert step.position is not None
        at = step.position
