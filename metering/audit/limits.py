"""Whether logged usage is possible at all: no model reads more than its input limit or writes more than its output.

One line claiming 10^12 prompt tokens would otherwise price the whole month at billions of dollars.
A request above its model's limits was refused by the upstream, so a log line claiming it is wrong
(a logger's bug, a unit mix-up, a corrupted number): the audit skips it as `implausible_usage`.

The limits are litellm's map's (`max_input_tokens`, `max_output_tokens`), the same the proxy and
`routetax price` use. A logged name the map does not know as such is tried without a provider prefix
(`openai/gpt-4o`) and without a snapshot date (`gpt-5.4-mini-2026-03-05`); a model it does not know at
all (an alias, a self-hosted model) is held to the largest limits of any model in the map.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from metering.prices import price_map
from metering.record import Usage

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$|-\d{4}$")  # gpt-4o-2024-08-06, gpt-4-0613


@lru_cache(maxsize=1)
def _largest() -> tuple[int, int]:
    entries = [entry for entry in price_map().values() if isinstance(entry, dict)]
    return (
        max((_limit(entry, "max_input_tokens") or 0 for entry in entries), default=0) or 10_000_000,
        max((_limit(entry, "max_output_tokens") or 0 for entry in entries), default=0) or 10_000_000,
    )


def _limit(entry: dict[str, Any], key: str) -> int | None:
    value = entry.get(key)
    return value if type(value) is int and value > 0 else None


@lru_cache(maxsize=512)
def limits_for(model: str | None) -> tuple[int, int]:
    """(most prompt tokens, most completion tokens) a request to `model` can have."""
    largest_in, largest_out = _largest()
    if not model:
        return largest_in, largest_out
    known = price_map()
    bare = model.rsplit("/", 1)[-1]
    for name in (model, bare, _SNAPSHOT.sub("", bare)):
        entry = known.get(name)
        if isinstance(entry, dict):
            return _limit(entry, "max_input_tokens") or largest_in, _limit(entry, "max_output_tokens") or largest_out
    return largest_in, largest_out


def implausible(usage: Usage, model: str | None) -> bool:
    """Whether `usage` exceeds what `model` (or, unknown, any model) can read or write in one request."""
    most_in, most_out = limits_for(model)
    return usage.prompt_tokens > most_in or usage.completion_tokens > most_out
