"""State that replicas share through the store: open breakers and response owners.

Nothing here is on the request path's critical wait except a continuation whose
response id this replica has never seen (one GET). Breakers are synchronised by a
background loop: when a replica opens a tier's breaker it writes the open-until time
into one hash; every replica reads that hash each second and opens its own breaker too,
so a dead tier costs each replica nothing after the first one found out. One hash key
and single-key commands only, so this works on Redis Cluster.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from metering.logs.limiter import OutageLog
from router.response_owners import Owner, ResponseOwners, decode_owner, encode_owner
from router.serving.breaker import CircuitBreaker
from router.stopping import stop_task

log = logging.getLogger("routetax.shared")

BREAKERS_KEY = "routetax:{breakers}"
OWNER_PREFIX = "routetax:{owners}:"


class SharedBreakers:
    """Publishes local breaker openings and adopts other replicas' ones."""

    def __init__(self, redis: Any, breakers: dict[str, CircuitBreaker], interval_s: float = 1.0) -> None:
        self._redis = redis
        self._breakers = breakers
        self._interval_s = interval_s
        self._published: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._outage = OutageLog(log, "breaker sync with the store")

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="routetax-shared-breakers")

    async def aclose(self) -> None:
        """Stop the sync, also when the Redis client swallowed the cancellation (router.stopping)."""
        self._closing = True
        await stop_task(self._task)
        self._task = None

    async def sync_once(self) -> None:
        now_wall, now_mono = time.time(), time.monotonic()
        for tier, breaker in self._breakers.items():
            if breaker.opened_until > now_mono and self._published.get(tier) != breaker.opened_until:
                until_wall = now_wall + (breaker.opened_until - now_mono)
                await self._redis.hset(BREAKERS_KEY, tier, f"{until_wall:.3f}")
                self._published[tier] = breaker.opened_until
        shared = await self._redis.hgetall(BREAKERS_KEY)
        for raw_tier, raw_until in shared.items():
            tier = raw_tier.decode() if isinstance(raw_tier, bytes) else raw_tier
            breaker = self._breakers.get(tier)
            if breaker is None:
                continue
            until_wall = float(raw_until)
            if until_wall > now_wall:
                breaker.force_open(now_mono + (until_wall - now_wall))
            else:
                await self._redis.hdel(BREAKERS_KEY, tier)

    async def _loop(self) -> None:
        while not self._closing:
            try:
                await self.sync_once()
            except Exception as exc:  # the store blinking must not stop the sync for good
                self._outage.failed(exc)
            else:
                self._outage.ok()
            await asyncio.sleep(self._interval_s)


class SharedResponseOwners(ResponseOwners):
    """Response owners kept in-process and in the store, so any replica can route a continuation."""

    def __init__(self, redis: Any, ttl_s: float) -> None:
        super().__init__(ttl_s)
        self._redis = redis
        self._writes: set[asyncio.Task[Any]] = set()

    def put(self, response_id: str, tier: str, key_id: str | None) -> None:
        super().put(response_id, tier, key_id)
        task = asyncio.get_running_loop().create_task(
            self._redis.set(OWNER_PREFIX + response_id, encode_owner(tier, key_id), ex=int(self.ttl_s))
        )
        self._writes.add(task)
        task.add_done_callback(self._written)

    def _written(self, task: asyncio.Task[Any]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not share the owner of a response: %s", task.exception())

    async def get(self, response_id: str) -> Owner | None:
        local = await super().get(response_id)
        if local is not None:
            return local
        try:
            value = await self._redis.get(OWNER_PREFIX + response_id)
        except Exception as exc:
            log.warning("could not read the owner of response %s from the store: %s", response_id, exc)
            return None
        if value is None:
            return None
        owner = decode_owner(value.decode() if isinstance(value, bytes) else value)
        super().put(response_id, *owner)
        return owner
