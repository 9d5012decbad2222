"""Stopping a background task so that shutdown ends, even when a cancellation is swallowed.

A cancellation can be lost inside the Redis client: with the store's options (`metering/store.py`: a
`Retry` and short socket timeouts) a cancel that lands while a command is failing comes out as an
ordinary `ConnectionError`/`TimeoutError`, which a background loop catches and carries on — measured
here, 13–21 of 60 cancels of a loop calling `HGETALL` were lost that way; with plain redis-py none. A
`cancel(); await task` then waits for ever, and a single process has no outer kill. So a task is cancelled
again until it ends, and given up (logged) after a bound; the loops also stop at their next turn once
asked to, whatever happened to the cancel.
"""

from __future__ import annotations

import asyncio
import logging
import time

log = logging.getLogger("routetax")

STOP_TIMEOUT_S = 5.0  # most a background task may take to stop before shutdown goes on without it
_RECANCEL_S = 0.05  # a swallowed cancellation is repeated this often


async def stop_task(task: asyncio.Task[object] | None, timeout_s: float = STOP_TIMEOUT_S) -> bool:
    """Cancel `task` (again, if it swallowed the cancellation) until it ends: True, or False after `timeout_s`.

    Whatever the task raised on the way out is its own business (logged by its loop); the caller's own
    cancellation goes through.
    """
    if task is None or task.done():
        return True
    deadline = time.monotonic() + timeout_s
    while True:
        task.cancel()
        left = deadline - time.monotonic()
        if left <= 0:
            log.error("background task %s did not stop within %.0f s; shutdown goes on without it", task, timeout_s)
            return False
        done, _ = await asyncio.wait({task}, timeout=min(_RECANCEL_S, left))
        if done:
            if not task.cancelled():
                task.exception()  # retrieved: an error on the way out is not "never retrieved" noise
            return True
