"""Issue 32, a shutdown that ends: background loops stop even when the Redis client swallows a cancellation,
and a store outage is logged as one event, not a line a second.

The swallowing client is a stand-in for what redis-py does with the store's options (router/stopping.py
says what was measured): a command interrupted by a cancellation raises `ConnectionError` instead.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from router.affinity import CacheAffinity
from router.affinity_share import SharedAffinity
from router.serving.breaker import CircuitBreaker
from router.shared_state import SharedBreakers

BOUND_S = 10.0  # a hang, not a speed: every stop here ends at once, or never without the fix


class SwallowingRedis:
    """Every command waits on the network; a cancellation that lands there comes out as a ConnectionError
    (the first `swallows` times: then the test's loop can still close)."""

    def __init__(self, swallows: int = 3) -> None:
        self.calls = 0
        self.swallows = swallows

    async def _command(self, *_: Any, **__: Any) -> Any:
        self.calls += 1
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            if self.swallows <= 0:
                raise
            self.swallows -= 1
            raise ConnectionError("Connection closed by server.") from None
        return {}

    hset = hgetall = hdel = publish = _command


class DownRedis:
    """A store that is down: every command fails at once."""

    def __init__(self) -> None:
        self.calls = 0

    async def _command(self, *_: Any, **__: Any) -> Any:
        self.calls += 1
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    hset = hgetall = hdel = publish = _command

    def pubsub(self) -> Any:
        self.calls += 1
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


async def test_shared_breakers_stop_even_when_the_store_swallows_the_cancellation() -> None:
    redis = SwallowingRedis()
    shared = SharedBreakers(redis, {"nano": CircuitBreaker()}, interval_s=0)
    shared.start()
    while redis.calls < 20:  # the loop is busy in the store, where the cancellation will land
        await asyncio.sleep(0.005)
    closing = asyncio.create_task(shared.aclose())
    try:
        done, _ = await asyncio.wait({closing}, timeout=BOUND_S)
        assert done, "the shutdown waits for ever on a loop that swallowed its cancellation"
    finally:
        redis.swallows = 0  # a hang found: the next cancellation goes through, so the test's loop can close
        closing.cancel()


async def test_stop_task_cancels_again_until_the_task_ends_and_gives_up_after_its_bound() -> None:
    from router.stopping import stop_task

    async def swallows(times: int) -> None:
        for _ in range(times):
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass  # as a client library converting the cancellation into an error that is then caught

    twice = asyncio.create_task(swallows(2))
    await asyncio.sleep(0)
    assert await asyncio.wait_for(stop_task(twice), BOUND_S) is True and twice.done()

    released = False

    async def until_released() -> None:
        while not released:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass

    stuck = asyncio.create_task(until_released())
    await asyncio.sleep(0)
    assert await asyncio.wait_for(stop_task(stuck, timeout_s=0.2), BOUND_S) is False
    released = True  # it may end now: one more cancel and it does
    assert await stop_task(stuck) is True


async def test_a_store_outage_is_logged_when_it_starts_not_every_second(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="routetax.shared")
    redis = DownRedis()
    breakers = SharedBreakers(redis, {"nano": CircuitBreaker()}, interval_s=0)
    affinity = SharedAffinity(redis, CacheAffinity({}), retry_s=0)  # type: ignore[arg-type]
    breakers.start()
    affinity.start()
    while redis.calls < 100:  # 100 failed turns: over a minute and a half of outage at the loops' real pace
        await asyncio.sleep(0.001)
    await breakers.aclose()
    await affinity.aclose()
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2, said  # one line per loop: the outage started
    assert any("breaker sync" in line for line in said) and any("cache-affinity" in line for line in said)
