"""Task identity across processes through the store, in process (fakeredis): what one worker filed, another finds.

A continuation whose latest answer this process never filed is looked up in the store once (one round trip)
and adopted; a continuation local memory answers never touches the store; a header task's step and class
follow it from process to process.
"""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis
import orjson

from metering.record import TaskClassReason, TaskSource
from router.tasks import TaskIdentity, TaskIndex
from router.tasks.answer import from_chat_json, from_responses_json
from router.tasks.shared import SharedTasks
from tests.test_task_identity import ASK, chat_answer


class Counting:
    """The store, counting the round trips lookups make."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self.reads = 0

    def pipeline(self, transaction: bool = False) -> Any:
        pipe = self.redis.pipeline(transaction=transaction)
        execute = pipe.execute
        counting = self

        async def counted() -> Any:
            if any(command[0][0] in ("MGET", "LRANGE") for command in pipe.command_stack):
                counting.reads += 1
            return await execute()

        pipe.execute = counted
        return pipe

    async def get(self, key: str) -> Any:
        self.reads += 1
        return await self.redis.get(key)

    def __getattr__(self, name: str) -> Any:  # writes (the writer's script) go straight through
        return getattr(self.redis, name)


def worker(store: Counting) -> TaskIdentity:
    index = TaskIndex(1000, idle_s=300)
    return TaskIdentity(index, 5.0, SharedTasks(store, index))


async def settle(*workers: TaskIdentity) -> None:
    for w in workers:
        assert w.shared is not None
        await w.shared.aclose()


async def test_a_step_served_by_another_worker_continues_the_task_and_local_hits_never_ask_the_store() -> None:
    store = Counting(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()))
    a, b = worker(store), worker(store)
    call = ("call_shared001", "get_weather", '{"city": "Paris"}')
    first = await a.identify({"messages": [ASK]}, "chat", {}, "key1")
    assert store.reads == 0  # a first request never asks
    first.classify(True)
    a.file(first, from_chat_json(chat_answer(None, [call])), "mini")
    await settle(a)
    message = {
        "role": "assistant",
        "tool_calls": [{"id": call[0], "type": "function", "function": {"name": call[1], "arguments": call[2]}}],
    }
    h2 = [ASK, message, {"role": "tool", "tool_call_id": call[0], "content": "18 C"}]
    second = await b.identify({"messages": h2}, "chat", {}, "key1")
    assert (second.task_id, second.step, store.reads) == (first.task_id, 2, 1)
    assert second.classify(False) == (True, TaskClassReason.EARLIER_STEP)  # the class travelled with the answer
    again = await b.identify({"messages": h2}, "chat", {}, "key1")  # adopted: now a local hit
    assert again.task_id == first.task_id and store.reads == 1
    unknown = [
        ASK,
        {"role": "assistant", "content": "A few-shot example nobody filed."},
        {"role": "user", "content": "x"},
    ]
    for _ in range(3):
        assert (await b.identify({"messages": unknown}, "chat", {}, "key1")).source is TaskSource.NEW
    assert store.reads == 4  # asked, again 20 and 50 ms later (a write may be in flight), then remembered as unknown


class LateWrites(Counting):
    """The store behind a busy writer: the other process's write lands `late_s` after its flush begins."""

    def __init__(self, redis: Any, late_s: float) -> None:
        super().__init__(redis)
        self.late_s = late_s

    async def evalsha(self, *args: Any) -> Any:
        await asyncio.sleep(self.late_s)
        return await self.redis.evalsha(*args)

    async def eval(self, *args: Any) -> Any:
        await asyncio.sleep(self.late_s)
        return await self.redis.eval(*args)


async def test_a_step_sent_before_the_other_workers_write_lands_still_continues_its_task() -> None:
    """A client sends its next step the moment the last event arrives, to another replica; the replica that
    answered writes in the background, and behind a busy loop that write lands tens of milliseconds later.
    The step still continues its task (one retry at 20 ms split 1 streamed tool loop in 500 across two replicas)."""
    store = LateWrites(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()), late_s=0.04)
    a, b = worker(store), worker(store)
    call = ("call_late0001", "get_weather", '{"city": "Oslo"}')
    first = await a.identify({"messages": [ASK]}, "chat", {}, "key1")
    first.classify(True)
    a.file(first, from_chat_json(chat_answer(None, [call])), "mini")  # its write: 10 ms flush + 40 ms late
    message = {
        "role": "assistant",
        "tool_calls": [{"id": call[0], "type": "function", "function": {"name": call[1], "arguments": call[2]}}],
    }
    h2 = [ASK, message, {"role": "tool", "tool_call_id": call[0], "content": "2 C"}]
    second = await b.identify({"messages": h2}, "chat", {}, "key1")
    assert (second.task_id, second.step) == (first.task_id, 2)
    await settle(a, b)


async def test_a_header_task_keeps_its_steps_and_class_across_workers() -> None:
    store = Counting(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()))
    a, b = worker(store), worker(store)
    headers = {"x-routetax-task": "crew-1"}
    one = await a.identify({"messages": [{"role": "user", "content": "planner"}]}, "chat", headers, None)
    one.classify(True)
    a.file(one, from_chat_json(chat_answer("Plan: research, then write.")), "mini")
    await settle(a)
    two = await b.identify({"messages": [{"role": "user", "content": "writer"}]}, "chat", headers, None)
    assert (two.task_id, two.step, two.source) == ("crew-1", 2, TaskSource.HEADER)
    assert two.classify(False)[0]


async def test_a_response_chain_continues_on_another_replica() -> None:
    store = Counting(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()))
    a, b = worker(store), worker(store)
    first = await a.identify({"input": "Hi"}, "responses", {}, None)
    first.classify(False)
    output = [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello."}]}]
    raw = orjson.dumps({"id": "resp_X", "status": "completed", "output": output})
    a.file(first, from_responses_json(raw), "nano")
    await settle(a)
    chained = await b.identify({"input": "Again", "previous_response_id": "resp_X"}, "responses", {}, None)
    assert (chained.task_id, chained.source, chained.step) == (first.task_id, TaskSource.RESPONSE_CHAIN, 2)


async def test_a_step_sent_to_another_worker_before_the_answers_write_landed_still_continues_the_task() -> None:
    store = Counting(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()))
    a, b = worker(store), worker(store)
    call = ("call_quick0001", "get_weather", '{"city": "Oslo"}')
    first = await a.identify({"messages": [ASK]}, "chat", {}, "key1")
    first.classify(True)
    a.file(first, from_chat_json(chat_answer(None, [call])), "mini")  # its write leaves within 2 ms, not yet
    message = {
        "role": "assistant",
        "tool_calls": [{"id": call[0], "type": "function", "function": {"name": call[1], "arguments": call[2]}}],
    }
    history = [ASK, message, {"role": "tool", "tool_call_id": call[0], "content": "3 C"}]
    second = await b.identify({"messages": history}, "chat", {}, "key1")  # the client was quicker than the write
    assert (second.task_id, second.step, second.source) == (first.task_id, 2, TaskSource.CONTINUATION)
    await settle(a, b)


def test_an_answer_an_earlier_version_shared_with_its_marks_as_a_list_still_confirms_a_rewritten_continuation() -> None:
    """Marks are one joined string now; a replica still on the list form shares entries a new one must read alike
    (a rolling deploy), or its rewritten continuations would start new tasks."""
    from router.tasks.index import MARKS, confirmed, entry_from_json, entry_json

    fields = {"task_id": "task_x", "step": 1, "agentic": True, "reason": "classifier", "answered_at": 1, "arm": "mini"}
    entry = entry_from_json(orjson.dumps({**fields, "explored": False, "marks": ["call_ab12", "call_cd34"]}))
    assert entry is not None and entry[MARKS]
    both = [("m", "user", "", "Observation of call_ab12: 3 files; call_cd34: ok")]
    one = [("m", "user", "", "Observation of call_ab12: 3 files")]
    assert confirmed(entry, both) and not confirmed(entry, one)
    assert entry_from_json(entry_json(entry)) == entry
