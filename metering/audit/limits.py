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

from metering.prices import token_limits
from metering.record import Usage

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$|-\d{4}$")  # gpt-4o-2024-08-06, gpt-4-0613
_FALLBACK = 10_000_000  # when the map is missing altogether


@lru_cache(maxsize=1)
def load() -> tuple[dict[str, tuple[int | None, int | None]], tuple[int, int]]:
    """Every model's limits, and the largest of each. Called before reading, while little else is held in memory."""
    table = token_limits()
    largest_in = max((most_in or 0 for most_in, _ in table.values()), default=0) or _FALLBACK
    largest_out = max((most_out or 0 for _, most_out in table.values()), default=0) or _FALLBACK
    return table, (largest_in, largest_out)


@lru_cache(maxsize=512)
def limits_for(model: str | None) -> tuple[int, int]:
    """(most prompt tokens, most completion tokens) a request to `model` can have."""
    table, (largest_in, largest_out) = load()
    if not model:
        return largest_in, largest_out
    bare = model.rsplit("/", 1)[-1]
    for name in (model, bare, _SNAPSHOT.sub("", bare)):
        if name in table:
            most_in, most_out = table[name]
            return most_in or largest_in, most_out or largest_out
    return largest_in, largest_out


def implausible(usage: Usage, model: str | None) -> bool:
    """Whether `usage` exceeds what `model` (or, unknown, any model) can read or write in one request."""
    most_in, most_out = limits_for(model)
    return usage.prompt_tokens > most_in or usage.completion_tokens > most_out
