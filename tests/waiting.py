"""Waiting for background work in tests: poll with a deadline, never a fixed sleep.

A fixed `time.sleep(0.5)` before an assertion is both slow (it always waits the whole half second) and
flaky (on a loaded CI machine the ledger, the Redis write or the metric may take longer). `wait_until`
returns as soon as the condition holds and fails with a message naming what never happened.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], what: str, timeout_s: float = 10.0, interval_s: float = 0.05) -> T:
    """Call `predicate` until it returns something truthy and return that; AssertionError naming `what` at the deadline.

    Exceptions from `predicate` are not swallowed: a broken check fails at once, not after the timeout.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout_s} s for {what}; last seen: {result!r}")
        time.sleep(interval_s)


async def async_wait_until(
    predicate: Callable[[], T | Awaitable[T]], what: str, timeout_s: float = 10.0, interval_s: float = 0.02
) -> T:
    """`wait_until` for a test running on an event loop: the loop keeps serving the background work meanwhile."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout_s} s for {what}; last seen: {result!r}")
        await asyncio.sleep(interval_s)
