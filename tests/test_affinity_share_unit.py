"""Cache affinity shared between processes: what is published, how often, and what is heard back."""

from __future__ import annotations

import asyncio
import time

import orjson

from router.affinity import CacheAffinity, Conversation
from router.affinity_share import CHANNEL, SharedAffinity


class Channel:
    """A Redis whose PUBLISH reaches `receivers` subscribers; its subscription hears nothing."""

    def __init__(self, receivers: int) -> None:
        self.receivers = receivers
        self.published: list[dict] = []

    async def publish(self, channel: str, data: bytes) -> int:
        assert channel == CHANNEL
        self.published.append(orjson.loads(data))
        return self.receivers

    def pubsub(self) -> Channel:
        return self

    async def subscribe(self, _channel: str) -> None:
        return None

    async def get_message(self, **_kwargs: object) -> None:
        await asyncio.sleep(0.01)

    async def aclose(self) -> None:
        return None


def conversation(tier: str = "mini") -> Conversation:
    return Conversation(tier, prompt_tokens=5000, completion_tokens=200, seen_at=time.monotonic())


async def settle(table: CacheAffinity, key: str) -> None:
    assert table.on_settle is not None
    table.on_settle(key, conversation())
    await asyncio.sleep(0.05)  # many times the 1 ms gathering pause


async def test_settlements_are_published_every_few_ms_while_another_process_listens() -> None:
    redis, table = Channel(receivers=2), CacheAffinity({})
    share = SharedAffinity(redis, table, flush_s=0.001, alone_flush_s=60)  # type: ignore[arg-type]
    share.start()
    try:
        await settle(table, "a")
        await settle(table, "b")
        assert [[entry[0] for entry in message["c"]] for message in redis.published] == [["a"], ["b"]]
    finally:
        await share.aclose()


async def test_a_process_alone_on_the_channel_gathers_its_settlements_for_longer() -> None:
    redis, table = Channel(receivers=1), CacheAffinity({})  # the one subscriber is this process itself
    share = SharedAffinity(redis, table, flush_s=0.001, alone_flush_s=60)  # type: ignore[arg-type]
    share.start()
    try:
        await settle(table, "a")  # before its first publication it cannot know it is alone
        await settle(table, "b")
        await settle(table, "c")
        assert len(redis.published) == 1  # "b" and "c" wait out the longer pause, together
    finally:
        await share.aclose()  # what is gathered is published on the way out
    assert [[entry[0] for entry in message["c"]] for message in redis.published] == [["a"], ["b", "c"]]


def test_its_own_publications_heard_back_are_skipped_and_another_process_s_are_remembered() -> None:
    table = CacheAffinity({})
    share = SharedAffinity(Channel(receivers=2), table)  # type: ignore[arg-type]
    other = SharedAffinity(Channel(receivers=2), CacheAffinity({}))  # type: ignore[arg-type]
    own = orjson.dumps({"o": share._origin, "c": [["own", "mini", 5000, 200]]})
    theirs = orjson.dumps({"o": other._origin, "c": [["theirs", "mini", 5000, 200]]})
    share.apply(own)
    share.apply(theirs.decode())
    assert table.get("own") is None
    known = table.get("theirs")
    assert known is not None and (known.tier, known.prompt_tokens, known.completion_tokens) == ("mini", 5000, 200)
