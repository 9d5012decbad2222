"""Logging a background loop's failures against the store: once when an outage starts, then once a minute.

The loops that keep replicas in step (open breakers, cache affinity) talk to Redis every second; during an
outage each failed turn used to log a line, two a second for as long as Redis was down. An outage is one
event: said when it starts, repeated with how long it has lasted at most every `every_s`, and its end said.
"""

from __future__ import annotations

import logging
import time

OUTAGE_LOG_EVERY_S = 60.0


class OutageLog:
    """What one loop says about its store: `failed(exc)` on each failed turn, `ok()` on each good one."""

    def __init__(self, logger: logging.Logger, what: str, every_s: float = OUTAGE_LOG_EVERY_S) -> None:
        self._logger = logger
        self._what = what
        self._every_s = every_s
        self._since: float | None = None
        self._said_at = 0.0
        self._failures = 0

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._failures += 1
        if self._since is None:
            self._since = self._said_at = now
            self._logger.warning("%s failed: %s", self._what, exc)
        elif now - self._said_at >= self._every_s:
            self._said_at = now
            down = now - self._since
            failures = self._failures
            self._logger.warning("%s still failing after %.0f s (%d attempts): %s", self._what, down, failures, exc)

    def ok(self) -> None:
        if self._since is not None:
            down = time.monotonic() - self._since
            self._logger.warning("%s works again after %.0f s (%d failed attempts)", self._what, down, self._failures)
            self._since, self._failures = None, 0
