"""What the ledger holds in a real Redis, in bytes per kind of key (Redis's own `MEMORY USAGE`, exact).

Shared by tests/test_deploy_redis_sizing.py (the compose Redis is big enough for the stated retention) and
bench/redis_sizing.py (the figures docs/deploy.md gives).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

PREFIX = "routetax:{ledger}:"


def _memory(client: redis.Redis, pattern: str) -> tuple[int, int]:
    """(keys matching `pattern`, their total MEMORY USAGE in bytes)."""
    count = total = 0
    for key in client.scan_iter(match=pattern, count=1000):
        count += 1
        total += client.memory_usage(key, samples=0) or 0
    return count, total


@dataclass(frozen=True)
class LedgerBytes:
    """The ledger's keys in one Redis: counts and bytes of each kind."""

    records: int
    record_bytes: int  # the records stream, trimmed at the retention
    markers: int
    marker_bytes: int  # one `seen` marker per request, 7 days
    tasks: int
    task_bytes: int  # the tasks stream, trimmed at 1,000,000
    states: int
    state_bytes: int  # one task state per task, 7 days once closed
    feedback: int
    feedback_bytes: int  # one per task given feedback, 90 days

    @property
    def per_request(self) -> float:
        """Every byte of these, per request: what a request adds while all of its keys live."""
        total = self.record_bytes + self.marker_bytes + self.task_bytes + self.state_bytes + self.feedback_bytes
        return total / max(self.records, 1)


def ledger_bytes(client: redis.Redis) -> LedgerBytes:
    feedback, feedback_bytes = _memory(client, PREFIX + "task:*:feedback")
    states, state_bytes = _memory(client, PREFIX + "task:*")  # the feedback keys match too: taken out below
    markers, marker_bytes = _memory(client, PREFIX + "seen:*")
    return LedgerBytes(
        records=client.xlen(PREFIX + "records"),
        record_bytes=client.memory_usage(PREFIX + "records", samples=0) or 0,
        markers=markers,
        marker_bytes=marker_bytes,
        tasks=client.xlen(PREFIX + "tasks"),
        task_bytes=client.memory_usage(PREFIX + "tasks", samples=0) or 0,
        states=states - feedback,
        state_bytes=state_bytes - feedback_bytes,
        feedback=feedback,
        feedback_bytes=feedback_bytes,
    )
