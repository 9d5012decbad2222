"""Rate-limited logging, in one home: a storm of the same problem is a few lines and a count, never a line each.

Two shapes, for two kinds of repetition:

- `RateLimitedLog`: the same kind of line (a key: the message, or e.g. (event, tier, error)) said at most
  `burst` times per `window_s`; the rest are counted, and the count is said — with the last one's
  fields — when the kind is next said after its window, when `flush_due` finds the window over, or at
  `flush` (exit). An upstream's 500 storm, a store refusing every write, a hostile upstream's usage.
- `OutageLog`: a background loop's store outage, one event: said when it starts, repeated with how long it
  has lasted at most every `every_s`, and its end said. The loops that keep replicas in step talk to Redis
  every second; during an outage each failed turn used to log a line, two a second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from metering.logs import context

OUTAGE_LOG_EVERY_S = 60.0
BURST = 5  # lines of one kind said per window before the rest are only counted
WINDOW_S = 10.0


@dataclass(slots=True)
class _Kind:
    started: float
    said: int = 0
    held: int = 0
    last: tuple[int, str, tuple[Any, ...], Mapping[str, Any]] | None = field(default=None)  # the last held back


class RateLimitedLog:
    """A logger that says each kind of line at most `burst` times per `window_s`, then counts (see the module)."""

    def __init__(
        self,
        logger: logging.Logger,
        burst: int = BURST,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self.burst = burst
        self.window_s = window_s
        self._clock = clock
        self._kinds: dict[Hashable, _Kind] = {}

    def log(
        self,
        level: int,
        message: str,
        *args: Any,
        key: Hashable = None,
        extra: Mapping[str, Any] | None = None,
        exc_info: bool = False,
    ) -> bool:
        """Say it, or count it; `key` names the kind (default: the message). True when it was said."""
        now = self._clock()
        kind_key = message if key is None else key
        kind = self._kinds.get(kind_key)
        if kind is None or now - kind.started >= self.window_s:
            if kind is not None and kind.held:
                self._summarise(kind)
            kind = self._kinds[kind_key] = _Kind(now)
        if kind.said >= self.burst:
            kind.held += 1
            handling = context.current()  # the summary names the last request held back, to look it up by
            held = {**(extra or {}), "last_request_id": handling.request_id} if handling is not None else extra
            kind.last = (level, message, args, held or {})
            return False
        kind.said += 1
        self._logger.log(level, message, *args, extra=extra, exc_info=exc_info)
        return True

    def flush_due(self) -> None:
        """Say the counts of the windows that are over (a storm that stopped is summarised without a next line)."""
        now = self._clock()
        for kind_key, kind in list(self._kinds.items()):
            if now - kind.started >= self.window_s:
                if kind.held:
                    self._summarise(kind)
                del self._kinds[kind_key]

    def flush(self) -> None:
        """Say every count held back (at exit: nothing counted goes unsaid)."""
        for kind in self._kinds.values():
            if kind.held:
                self._summarise(kind)
        self._kinds.clear()

    def _summarise(self, kind: _Kind) -> None:
        assert kind.last is not None
        level, message, args, extra = kind.last
        suffix = f" (and {kind.held} more like it in {self.window_s:g} s, not logged one by one; the last shown)"
        self._logger.log(level, message + suffix, *args, extra={**extra, "suppressed": kind.held})
        kind.held, kind.last = 0, None

    def warning(self, message: str, *args: Any, **fields: Any) -> bool:
        return self.log(logging.WARNING, message, *args, **fields)

    def error(self, message: str, *args: Any, **fields: Any) -> bool:
        return self.log(logging.ERROR, message, *args, **fields)

    def exception(self, message: str, *args: Any, **fields: Any) -> bool:
        return self.log(logging.ERROR, message, *args, exc_info=True, **fields)


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
        extra = {"event": "store_outage", "what": self._what, "exc_type": type(exc).__name__}
        if self._since is None:
            self._since = self._said_at = now
            self._logger.warning("%s failed: %s", self._what, exc, extra=extra)
        elif now - self._said_at >= self._every_s:
            self._said_at = now
            down = now - self._since
            failures = self._failures
            self._logger.warning(
                "%s still failing after %.0f s (%d attempts): %s", self._what, down, failures, exc, extra=extra
            )

    def ok(self) -> None:
        if self._since is not None:
            down = time.monotonic() - self._since
            extra = {"event": "store_outage_ended", "what": self._what, "down_s": round(down, 1)}
            self._logger.warning(
                "%s works again after %.0f s (%d failed attempts)", self._what, down, self._failures, extra=extra
            )
            self._since, self._failures = None, 0
