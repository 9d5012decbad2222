"""A stand-in for the `time` module inside router.keys: the gate script gets `now` from its caller, so a test
that moves this clock moves the rate buckets and reservations without waiting."""

from __future__ import annotations


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now
