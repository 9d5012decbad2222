"""What the request path tells the on-call engineer at WARNING: failed attempts and what came next, breakers.

A failed attempt is one line — the tier, the attempt's number in the request, the upstream's status or
the failure's kind, and the walker's move (retrying after how long, falling back to which tier, giving
up) — with the request and task ids every line written while serving carries (metering.logs.context).
A storm (every request meeting the same 500, an upstream that cannot be reached) is not a line per
request: each kind (tier, error) is said `log.warning_burst` times per `log.warning_window_s`, then
counted and summarised (metering.logs.limiter). A breaker's opening and closing are said as they happen;
they are rare by construction (one opening per cooldown at most).
"""

from __future__ import annotations

import logging
from typing import Any

from metering.logs.limiter import RateLimitedLog
from metering.record import Record
from router.serving.breaker import BreakerState, CircuitBreaker
from router.serving.walker import Kind, Move, Turn

log = logging.getLogger("routetax.proxy")

_NEXT = {
    Move.RETRY: "retrying",
    Move.FALLBACK: "falling back",
    Move.REDO: "redoing it",
    Move.GIVE_UP: "giving up",
    Move.ANSWER: "answering with it",
}


class Incidents:
    """The request path's WARNING lines, rate-limited per kind."""

    def __init__(self, burst: int, window_s: float) -> None:
        self.limited = RateLimitedLog(log, burst, window_s)

    def turn(self, record: Record, turn: Turn, detail: str | None) -> None:
        """After each walker step: a failed or degraded attempt is said, with what the walker does next."""
        outcome, step = turn.outcome, turn.step
        if outcome.kind in (Kind.OK, Kind.SKIPPED):
            return
        attempt = record.attempts[-1] if record.attempts else None
        error = (attempt.error_type if attempt is not None else None) or outcome.reason or outcome.kind.value
        if step.reason == "client_error" and error != "upstream_credential":
            return  # the client's request, refused as it would be directly: its access line says so, not a WARNING
        status = outcome.status if outcome.kind in (Kind.HTTP_ERROR, Kind.DEGRADED) else None
        fields: dict[str, Any] = {
            "event": "upstream_degraded" if outcome.kind is Kind.DEGRADED else "upstream_failed",
            "tier": turn.tier,
            "attempt": len(record.attempts),
            "status": status,
            "error": error,
            "next": step.move.value,
        }
        then = _NEXT[step.move]
        if step.move is Move.RETRY:
            fields["wait_s"] = round(step.wait_s, 3)
            then = f"retrying in {step.wait_s:.2f} s"
        elif step.move in (Move.FALLBACK, Move.REDO) and step.position is not None:
            fields["to_tier"] = step.position.tier
            then = f"{then} to {step.position.tier}"
        if detail:
            fields["detail"] = detail
        what = f"HTTP {status} {error}" if status is not None else error
        self.limited.warning(
            "tier %s attempt %d: %s; %s",
            turn.tier,
            len(record.attempts),
            what,
            then,
            key=(fields["event"], turn.tier, error),
            extra=fields,
        )

    def breaker(self, tier: str, before: BreakerState, breaker: CircuitBreaker) -> None:
        """A breaker that changed state on an outcome: opened (for how long) or closed (its probe succeeded)."""
        if breaker.state is before:
            return
        if breaker.state is BreakerState.OPEN:
            cooldown = round(breaker.retry_in_s(), 3)
            log.warning(
                "tier %s: circuit breaker opened; the tier is skipped for %.1f s",
                tier,
                cooldown,
                extra={"event": "breaker_opened", "tier": tier, "from": before.name.lower(), "cooldown_s": cooldown},
            )
        elif breaker.state is BreakerState.CLOSED:
            log.warning(
                "tier %s: circuit breaker closed; the tier takes traffic again",
                tier,
                extra={"event": "breaker_closed", "tier": tier, "from": before.name.lower()},
            )
