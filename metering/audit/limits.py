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
_FALLBACK = 10_000_000  # when the map is missing altogether


def load() -> None:
    """Read the price map now (called before reading, while little else is held in memory)."""
    price_map()


@lru_cache(maxsize=1)
def _largest() -> tuple[int, int]:
    """The largest limits of any model in the map: what a model it does not know (or gives no limit) is held to."""
    largest_in = largest_out = 0
    for entry in price_map().values():
        if type(entry) is dict:
            most_in, most_out = entry.get("max_input_tokens"), entry.get("max_output_tokens")
            if type(most_in) is int and most_in > largest_in:
                largest_in = most_in
            if type(most_out) is int and most_out > largest_out:
                largest_out = most_out
    return largest_in or _FALLBACK, largest_out or _FALLBACK


def _limit(entry: dict[str, Any], field: str) -> int | None:
    value = entry.get(field)
    return value if type(value) is int and value > 0 else None


@lru_cache(maxsize=512)
def limits_for(model: str | None) -> tuple[int, int]:
    """(most prompt tokens, most completion tokens) a request to `model` can have."""
    if model:
        table = price_map()
        bare = model.rsplit("/", 1)[-1]
        for name in (model, bare, _SNAPSHOT.sub("", bare)):
            entry = table.get(name)
            if type(entry) is dict:
                most_in, most_out = _limit(entry, "max_input_tokens"), _limit(entry, "max_output_tokens")
                if most_in is None or most_out is None:
                    largest_in, largest_out = _largest()
                    return most_in or largest_in, most_out or largest_out
                return most_in, most_out
    return _largest()


def implausible(usage: Usage, model: str | None) -> bool:
    """Whether `usage` exceeds what `model` (or, unknown, any model) can read or write in one request."""
    most_in, most_out = limits_for(model)
    return usage.prompt_tokens > most_in or usage.completion_tokens > most_out
