"""Application feedback per request: did it really succeed? Kept in the store next to the ledger.

`POST /v1/feedback {"request_id", "success", "reason"}` lets an application say what only
it knows, so success rates and cost per completed task are measured rather than assumed.
One hash (same `{ledger}` hash tag: Cluster-safe), last word wins, a repeat is a no-op. The word
also goes to the request's task (metering/tasks.py: `TaskBook.feedback`), found through the
request's ledger marker (`step_of`); this per-request hash is what the routing-tax report reads.
"""

from __future__ import annotations

import logging
from typing import Any

from metering.ledger import DEFAULT_PREFIX, Keys, marker_key, marker_task

log = logging.getLogger("routetax.metering")

REASON_LIMIT = 200
_SWAP = """
local previous = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return previous
"""


class FeedbackStore:
    def __init__(self, store: Any, prefix: str = DEFAULT_PREFIX) -> None:
        self.store = store
        self.keys = Keys(prefix)
        self.key = f"{self.keys.base}:feedback"

    async def known(self, request_id: str) -> bool:
        """Has the ledger seen this request (on any replica)?"""
        return bool(await self.store.exists(self.keys.seen(request_id)))

    async def key_of(self, request_id: str) -> str | None:
        """The key id that made a request, read from its ledger marker (None: keyless, or unreadable: logged)."""
        try:
            marker = await self.store.get(self.keys.seen(request_id))
        except Exception:
            log.warning("feedback for %s: the ledger marker could not be read to check its key", request_id)
            return None
        return marker_key(marker)

    async def step_of(self, request_id: str) -> tuple[str | None, str | None]:
        """The key id that made a request and the task it was a step of, from its ledger marker (None, None:
        keyless and no task, or unreadable: logged)."""
        try:
            marker = await self.store.get(self.keys.seen(request_id))
        except Exception:
            log.warning("feedback for %s: the ledger marker could not be read to check its key", request_id)
            return None, None
        return marker_key(marker), marker_task(marker)

    async def put(self, request_id: str, success: bool, reason: str | None) -> bool | None:
        """Store the application's judgement (success or not); return the one it replaced (None: first word),
        read and written atomically.

        Atomic so that two replicas taking contradicting feedback for one request at once still see
        each change of judgement exactly once.
        """
        value = ("1" if success else "0") + "|" + (reason or "")[:REASON_LIMIT]
        previous = await self.store.eval(_SWAP, 1, self.key, request_id, value)
        if previous is None:
            return None
        previous = previous.decode() if isinstance(previous, bytes) else previous
        return previous.startswith("1")

    async def all(self) -> dict[str, bool]:
        raw = await self.store.hgetall(self.key)
        out = {}
        for key, value in raw.items():
            key = key.decode() if isinstance(key, bytes) else key
            value = value.decode() if isinstance(value, bytes) else value
            out[key] = value.startswith("1")
        return out
