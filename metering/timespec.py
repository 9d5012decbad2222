"""Points in time as people type them on a command line: ISO-8601, unix seconds, or `7d` (that long ago).

One parser for every tool that takes `--since` / `--until` (`routetax ledger`, `report`, `audit`), so
the forms they accept cannot drift apart. It raises argparse's `ArgumentTypeError` because its callers
use it as an argparse `type=`: argparse then prints the message as written.
"""

from __future__ import annotations

import argparse
import re
import time
from datetime import UTC, datetime

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(text: str, now: float | None = None) -> float:
    """Unix seconds from ISO-8601, unix seconds, or a relative `30m`/`1h`/`24h`/`7d` (that long ago)."""
    value = text.strip()
    relative = _RELATIVE.match(value)
    if relative:
        return (time.time() if now is None else now) - float(relative.group(1)) * _UNIT_S[relative.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (use ISO-8601, unix seconds, or relative like 1h, 24h, 7d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # a ledger is read across zones: naive means UTC
    return moment.timestamp()
