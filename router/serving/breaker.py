"""The per-tier circuit breaker: stop sending to a tier that keeps failing, probe it after a cooldown.

Which outcomes count as failures is the walker's rule (`router.serving.walker.judge`): a rate
limit or a quota error is not ill health. The breaker only counts what it is told.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum


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

    def retry_in_s(self, now: float | None = None) -> float:
        """Seconds until an open breaker lets a probe through (0 when it would now): a 503's Retry-After."""
        now = time.monotonic() if now is None else now
        return max(self.opened_until - now, 0.0) if self.state is BreakerState.OPEN else 0.0

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
