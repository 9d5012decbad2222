"""Cache affinity across workers and replicas: every settlement is broadcast, every process remembers it.

A conversation's next turn may land on any worker of `serve --workers N` (the kernel hands connections
out) or any replica behind a load balancer, and cache affinity only works if that process knows which
tier the conversation's prefix is cached on. Looking it up in Redis would put a round trip in front of
every request; instead each process publishes what its requests settled (conversation key, tier,
tokens) on one Redis pub/sub channel, batched every 20 ms, and applies what the others publish to its
own bounded table. Nothing on the request path waits; the price is that a turn arriving within a few
milliseconds of the previous turn's end, on another process, does not see it yet — agent loops run a
tool and a model call between turns, hundreds of milliseconds at least.

A process alone on the channel (one `serve` process, the other replicas not started yet) would pay a
publication every 20 ms and hear each one back, for nobody: PUBLISH says how many subscribers got the
message, and while that is only this process itself, batches are gathered for a second instead. A
process that subscribes meanwhile hears of the settlements within that second, as before within 20 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import orjson

from metering.logs.limiter import OutageLog
from router.affinity import CacheAffinity, Conversation
from router.stopping import stop_task

log = logging.getLogger("routetax.shared")

CHANNEL = "routetax:{affinity}"


class SharedAffinity:
    """Publishes this process's affinity settlements and applies everyone else's."""

    def __init__(
        self,
        redis: Any,
        affinity: CacheAffinity,
        flush_s: float = 0.02,
        retry_s: float = 1.0,
        alone_flush_s: float = 1.0,
    ) -> None:
        self._redis = redis
        self._retry_s = retry_s  # after a failed subscription
        self._outage = OutageLog(log, "cache-affinity subscription")
        self._closing = False
        self._affinity = affinity
        self._flush_s = flush_s
        self._alone_flush_s = alone_flush_s  # the gathering pause while no other process listens
        self._alone = False  # the last publication reached no subscriber but this process
        self._origin = uuid.uuid4().hex  # our own messages come back to us: skip them
        self._own = b'{"o":"%s"' % self._origin.encode()  # how our own messages begin (`_flush`'s JSON)
        self._pending: list[tuple[str, str, int, int]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()

    def start(self) -> None:
        self._affinity.on_settle = self._queue
        self._tasks = [
            asyncio.create_task(self._publish_loop(), name="routetax-affinity-publish"),
            asyncio.create_task(self._listen_loop(), name="routetax-affinity-listen"),
        ]

    async def aclose(self) -> None:
        self._affinity.on_settle = None
        self._closing = True
        for task in self._tasks:
            await stop_task(task)  # also when the Redis client swallowed the cancellation (router.stopping)
        await self._flush()

    def _queue(self, key: str, conversation: Conversation) -> None:
        self._pending.append((key, conversation.tier, conversation.prompt_tokens, conversation.completion_tokens))
        self._wake.set()

    async def _flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            receivers = await self._redis.publish(CHANNEL, orjson.dumps({"o": self._origin, "c": batch}))
            self._alone = isinstance(receivers, int) and receivers <= 1  # this process's own subscription at most
        except Exception as exc:  # affinity is an optimisation: a lost batch costs cache, never a request
            log.warning("could not share cache-affinity updates: %s", exc)

    async def _publish_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            # gather what settles meanwhile into one message: for longer while nobody else hears it
            await asyncio.sleep(self._alone_flush_s if self._alone else self._flush_s)
            await self._flush()

    async def _listen_loop(self) -> None:
        while not self._closing:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(CHANNEL)
                self._outage.ok()
                try:
                    while not self._closing:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if message is not None:
                            self.apply(message["data"])
                finally:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._outage.failed(exc)
                await asyncio.sleep(self._retry_s)

    def apply(self, data: bytes | str) -> None:
        """Remember another process's settlements."""
        if (data if isinstance(data, bytes) else data.encode()).startswith(self._own):
            return  # our own, heard back: skipped before it is parsed
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if message.get("o") == self._origin:
            return
        now = time.monotonic()
        for key, tier, prompt, completion in message.get("c", ()):
            self._affinity.remember(key, Conversation(tier, prompt, completion, now))
