"""The shared task index's own connections to Redis (metering.store_wire), against a real redis-server.

What a deployment would notice: the writes land (in the database the URL names, with its password), Redis's
errors come back as errors, a Redis that dies, restarts empty or stops answering costs a batch and a warning —
never a hung writer — and the next batch goes through on a new connection. Stores without a wire (in-process,
TLS, cluster) keep writing through the client.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import fakeredis
import pytest

from metering.store import open_store
from metering.store_wire import ReplyError, StoreWire
from router.tasks import TaskIdentity, TaskIndex
from router.tasks.answer import from_chat_json
from router.tasks.shared import SharedTasks
from tests.redis_server import RedisServer
from tests.test_task_identity import ASK, chat_answer


async def test_calls_are_answered_in_order_in_the_database_the_url_names(redis_server: RedisServer) -> None:
    store = open_store(redis_server.url.removesuffix("/0") + "/3")
    wire = StoreWire.for_store(store)
    assert wire is not None
    try:
        replies = await asyncio.gather(*(wire.call("SET", f"k{i}", f"v{i}") for i in range(20)))
        assert replies == [b"OK"] * 20
        assert await wire.call("GET", "k7") == b"v7"
        assert await store.get("k7") == b"v7"  # the client, on database 3 too
        assert await open_store(redis_server.url).get("k7") is None  # not on database 0
        with pytest.raises(ReplyError, match="NOSCRIPT"):
            await wire.call("EVALSHA", "0" * 40, 0)
        assert await wire.call("PING") == b"PONG"  # an error reply leaves the connection in step
    finally:
        await wire.aclose()
        await store.aclose()


async def test_a_password_in_the_url_authenticates_and_a_wrong_one_is_refused(redis_server: RedisServer) -> None:
    admin = open_store(redis_server.url)
    await admin.config_set("requirepass", "s3cret")
    try:
        port = redis_server.port
        good = StoreWire.for_store(open_store(f"redis://:s3cret@127.0.0.1:{port}/0"))
        bad = StoreWire.for_store(open_store(f"redis://:wrong@127.0.0.1:{port}/0"))
        assert good is not None and bad is not None
        assert await good.call("SET", "a", "1") == b"OK"
        with pytest.raises(ReplyError):
            await bad.call("SET", "a", "2")
        with pytest.raises(ReplyError):  # a new connection, refused again: nothing was written
            await bad.call("SET", "a", "2")
        assert await good.call("GET", "a") == b"1"
        await good.aclose()
        await bad.aclose()
    finally:
        root = open_store(f"redis://:s3cret@127.0.0.1:{redis_server.port}/0")
        await root.config_set("requirepass", "")
        await root.aclose()
        await admin.aclose()


async def test_a_redis_that_stops_answering_fails_the_call_in_time_and_the_next_call_reconnects(
    redis_server: RedisServer,
) -> None:
    wire = StoreWire(host="127.0.0.1", port=redis_server.port, timeout_s=0.3)
    assert await wire.call("SET", "x", "1") == b"OK"
    assert redis_server.process is not None
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await wire.call("SET", "x", "2")
        assert time.monotonic() - started < 1.0
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
    assert await wire.call("GET", "x") in (b"1", b"2")  # a new connection: not the late reply to the lost call
    assert await wire.call("PING") == b"PONG"
    await wire.aclose()


async def test_a_redis_that_dies_fails_the_call_and_one_restarted_is_written_again(redis_server: RedisServer) -> None:
    wire = StoreWire(host="127.0.0.1", port=redis_server.port, connect_timeout_s=0.5, timeout_s=0.5)
    assert await wire.call("SET", "x", "1") == b"OK"
    redis_server.kill()
    with pytest.raises((ConnectionError, OSError)):
        await wire.call("SET", "x", "2")
    with pytest.raises((ConnectionError, OSError)):  # still down: refused at once, not hung
        await wire.call("SET", "x", "2")
    redis_server.start()
    assert await wire.call("SET", "x", "3") == b"OK"
    await wire.aclose()


def test_stores_without_a_wire_keep_their_client() -> None:
    assert StoreWire.for_store(fakeredis.FakeAsyncRedis()) is None
    assert StoreWire.for_store(open_store("rediss://127.0.0.1:6380/0")) is None
    assert StoreWire.for_store(open_store("redis://127.0.0.1:6379/0", cluster=True)) is None


def _workers(redis_server: RedisServer) -> tuple[TaskIdentity, TaskIdentity]:
    """Two workers' task identity on one real Redis, each with its own client (as two processes have)."""
    a, b = (TaskIdentity(TaskIndex(1000, idle_s=300), 5.0) for _ in range(2))
    a.shared, b.shared = (
        SharedTasks(open_store(redis_server.url), a.index),
        SharedTasks(open_store(redis_server.url), b.index),
    )
    return a, b


async def _step_elsewhere(a: TaskIdentity, b: TaskIdentity, n: int, gap_s: float) -> tuple[bool, float]:
    """A task's first step answered by `a`, its second sent to `b` `gap_s` later: (same task, b's wait in s)."""
    call = (f"call_wire{n:04d}", "get_weather", '{"city": "Oslo"}')
    ask = [ASK, {"role": "user", "content": f"#{n}"}]
    first = await a.identify({"messages": ask}, "chat", {}, "k")
    first.classify(True)
    a.file(first, from_chat_json(chat_answer(None, [call])), "mini")
    await asyncio.sleep(gap_s)
    function = {"name": call[1], "arguments": call[2]}
    answer = {"role": "assistant", "tool_calls": [{"id": call[0], "type": "function", "function": function}]}
    started = time.monotonic()
    second = await b.identify(
        {"messages": [*ask, answer, {"role": "tool", "tool_call_id": call[0], "content": "2 C"}]}, "chat", {}, "k"
    )
    return (second.task_id, second.step) == (first.task_id, 2), time.monotonic() - started


async def _close(*workers: TaskIdentity) -> None:
    for identity in workers:
        assert identity.shared is not None
        await identity.shared.aclose()
        await identity.shared._redis.aclose()


async def test_a_step_on_another_worker_finds_the_answer_filed_a_few_milliseconds_earlier(
    redis_server: RedisServer,
) -> None:
    """Agent frameworks send the next step 8-20 ms after an answer (their overhead): by then the worker that answered
    has written it, so the worker that gets the step finds it on its first look, without waiting to ask again
    (with a 10 ms flush a step 8 ms behind waited 20 ms more)."""
    a, b = _workers(redis_server)
    try:
        for n in range(5):
            same, waited = await _step_elsewhere(a, b, n, 0.008)
            assert same
            assert waited < 0.015, f"step {n} waited {waited * 1000:.1f} ms for the other worker's write"
    finally:
        await _close(a, b)


async def test_after_redis_restarts_empty_the_writer_reconnects_and_reloads_its_script(
    redis_server: RedisServer,
) -> None:
    a, b = _workers(redis_server)
    try:
        assert (await _step_elsewhere(a, b, 0, 0.05))[0]
        redis_server.restart()  # every connection dropped, the script cache empty
        # the writer's next batch: a new connection, the script sent whole; the other worker's lookup likewise
        for n in range(1, 4):
            assert (await _step_elsewhere(a, b, n, 0.05))[0]
    finally:
        await _close(a, b)


async def test_a_redis_that_stops_answering_costs_a_lookup_its_budget_and_later_lookups_still_find_their_tasks(
    redis_server: RedisServer,
) -> None:
    """Lookups that time out leave their replies in flight on the lookups' connection: when Redis answers again,
    those late replies are dropped in order, and the next lookup gets its own reply (not a stale one)."""
    a, b = _workers(redis_server)
    assert redis_server.process is not None
    try:
        assert (await _step_elsewhere(a, b, 0, 0.02))[0]
        await asyncio.sleep(0.02)
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        try:
            same, waited = await _step_elsewhere(a, b, 1, 0.02)
            assert not same  # its answer never reached Redis: a new task, not a failed request
            assert waited < 1.5  # three looks of at most 250 ms each, 20 and 50 ms apart
        finally:
            os.kill(redis_server.process.pid, signal.SIGCONT)
        await asyncio.sleep(0.1)  # the late replies arrive
        for n in range(2, 6):
            same, waited = await _step_elsewhere(a, b, n, 0.02)
            assert same, f"step {n} on the other worker started a new task"
    finally:
        await _close(a, b)
