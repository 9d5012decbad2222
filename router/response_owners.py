"""Which tier holds a Responses API conversation, and which client key created it: response id -> owner.

`previous_response_id` only works at the upstream that created that response, so the
router remembers the owner of every response it relayed. The map lives in the process
(bounded, expiring); with a shared store it is also written there so that every replica
can route a continuation (see `SharedResponseOwners`).

A stored response belongs to the key that created it: reading, deleting or continuing it
with another key must look exactly like an unknown id (404), so the owner's key id travels
with the tier (`tier|key_id`; tier names cannot hold `|`).
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict

import orjson

_ID_NEAR_START = re.compile(rb'"id"\s*:\s*"([^"]+)"')


def response_id_of(body: bytes) -> str | None:
    """The `id` of a Responses API object; a cheap look at its start first (where OpenAI puts `id`)."""
    match = _ID_NEAR_START.search(body, 0, 256)
    if match is not None and body.lstrip().startswith(b'{"id"'):
        return match.group(1).decode()
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


Owner = tuple[str, str | None]  # (tier, key id of the client that created it; None in open mode)


def encode_owner(tier: str, key_id: str | None) -> str:
    return tier if key_id is None else f"{tier}|{key_id}"


def decode_owner(value: str) -> Owner:
    tier, _, key_id = value.partition("|")
    return tier, key_id or None


class ResponseOwners:
    """In-process owner map, bounded in size and expiring after `ttl_s`."""

    def __init__(self, ttl_s: float, max_entries: int = 1_000_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._owners: OrderedDict[str, tuple[Owner, float]] = OrderedDict()

    def put(self, response_id: str, tier: str, key_id: str | None) -> None:
        self._owners[response_id] = ((tier, key_id), time.monotonic() + self.ttl_s)
        self._owners.move_to_end(response_id)
        while len(self._owners) > self.max_entries:
            self._owners.popitem(last=False)

    async def get(self, response_id: str) -> Owner | None:
        entry = self._owners.get(response_id)
        if entry is None:
            return None
        owner, expires = entry
        if time.monotonic() > expires:
            del self._owners[response_id]
            return None
        return owner
