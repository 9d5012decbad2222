"""The judge against real parts: its grades from the emulator, its spend in the ledger, and the final exchange
it keeps from answers the proxy relayed to the openai SDK (chat JSON, chat stream, Responses)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path

import fakeredis
import httpx
import orjson
import pytest
import redis
from openai import OpenAI

from demo.world import demo_config
from metering.pipeline import MeteringPipeline
from metering.record import JUDGE_LABEL, Record, TaskSource
from metering.store import open_store
from metering.tasks import OutcomeSource, TaskBook, TaskOutcome, TaskRecord, TaskSettings
from router.config import Config
from router.judge import TaskJudge, build_judge
from router.judge.exchange import FinalExchange
from router.metering_settings import metering_settings
from router.servers import RunningServer
from router.upstream import UpstreamPool
from tests.conftest import durable_config, script
from tests.ledger_rollups import rollup
from tests.test_judge import ClosedTask, FakeBook
from tests.waiting import wait_until


def with_judge(config: Config, tier: str = "mini", share: float = 1.0) -> Config:
    data = config.model_dump()
    data["tasks"]["judge"] = {"tier": tier, "share": share}
    return Config.model_validate(data)


async def test_the_judge_grades_ended_tasks_with_what_its_tier_answers(emulator: RunningServer) -> None:
    config = with_judge(demo_config(emulator.url))
    store = fakeredis.FakeAsyncRedis()
    pool = UpstreamPool(config.tiers)
    metering = MeteringPipeline(metering_settings(config))
    judge = build_judge(config, pool, metering, metering.metrics)
    assert judge is not None
    book = FakeBook()
    judge.attach(book)
    await pool.start()
    await metering.start(store, durable=False)
    await judge.start(store)
    script(emulator, "gpt-5.4-mini", answers=["SUCCESS", "FAILURE", "I cannot tell."])
    try:
        for task in ("task_1", "task_2", "task_3"):  # one at a time: the scripted answers come in order
            judge.keeper.keep(None, task, FinalExchange(api="chat", step=4, goal="g", turn="t", answer="a"))
            book.close(ClosedTask(task, key_id=None))
            await judge.drain()
    finally:
        await judge.aclose()
        await pool.aclose()
        await metering.aclose()
    assert [(task, success) for _, task, success, _ in book.judgements] == [("task_1", True), ("task_2", False)]
    calls = [record for record in metering.recent if record.label == JUDGE_LABEL]
    assert len(calls) == 3 and all(record.cost_usd > 0 and not record.is_task for record in calls)
    hour = await rollup(store, calls[0].started_at)
    assert hour["mini|judge|requests"] == 3
    assert hour["mini|judge|cost_usd"] == pytest.approx(sum(record.cost_usd for record in calls))
    assert metering.metrics.registry.get_sample_value("routetax_judge_tasks_total", {"result": "ungraded"}) == 1


@dataclasses.dataclass
class JudgedProxy:
    client: OpenAI
    judge: TaskJudge
    store: redis.Redis
    tasks: list[tuple[str | None, str]]  # (key, task) of every step the pipeline finished

    def kept(self, answer_has: str) -> FinalExchange:
        """The final exchange of the last step's task, once the store has it."""
        key = self.judge.keeper.exchange_key(*wait_until(lambda: self.tasks[-1:], "a finished step")[0])

        def read() -> FinalExchange | None:
            raw = self.store.get(key)
            exchange = FinalExchange.from_json(raw) if raw else None
            return exchange if exchange is not None and answer_has in exchange.answer else None

        return wait_until(read, "the task's final exchange in the store")

    def ttl(self) -> int:
        return self.store.ttl(self.judge.keeper.exchange_key(*self.tasks[-1]))


@pytest.fixture
def judged_proxy(
    emulator: RunningServer, redis_url: str, tmp_path: Path, start_proxy: Callable[[Config], RunningServer]
) -> JudgedProxy:
    """A proxy with the judge sampling every task. A request that task identity left without a task (or all
    of them, before identity fills `task_id`) is made a step of `task_e2e` in the pipeline's policy stage,
    which runs before the judge's."""
    server = start_proxy(with_judge(durable_config(emulator.url, redis_url, tmp_path / "spool")))
    state = server.app.app.state  # type: ignore[attr-defined]
    metering: MeteringPipeline = state.metering
    observe = metering.router_stages.policy
    tasks: list[tuple[str | None, str]] = []

    def policy(record: Record) -> None:
        record.task_id = record.task_id or "task_e2e"
        tasks.append((record.key_id, record.task_id))
        if observe is not None:
            observe(record)

    metering.router_stages = dataclasses.replace(metering.router_stages, policy=policy)
    client = OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=20)
    return JudgedProxy(client, state.judge, redis.Redis.from_url(redis_url), tasks)


AGENT_TURN = [
    {"role": "user", "content": "What is the weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "18 C and sunny"},
]


def test_the_final_exchange_of_a_chat_answer_is_kept(judged_proxy: JudgedProxy) -> None:
    answer = judged_proxy.client.chat.completions.create(model="mini", messages=AGENT_TURN)  # type: ignore[arg-type]
    exchange = judged_proxy.kept(answer.choices[0].message.content or "")
    assert exchange.goal == "What is the weather in Paris?"
    assert exchange.turn == "[tool result] 18 C and sunny"
    assert exchange.answer == answer.choices[0].message.content
    assert 300 < judged_proxy.ttl() <= 300 + 300  # tasks.idle_s and a grace


def test_the_final_exchange_of_a_chat_stream_is_kept(judged_proxy: JudgedProxy) -> None:
    stream = judged_proxy.client.chat.completions.create(model="mini", messages=AGENT_TURN, stream=True)  # type: ignore[arg-type]
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    exchange = judged_proxy.kept(text)
    assert exchange.answer == text and exchange.turn == "[tool result] 18 C and sunny"


@pytest.mark.parametrize("stream", [False, True])
def test_the_final_exchange_of_a_responses_answer_is_kept(judged_proxy: JudgedProxy, stream: bool) -> None:
    client = judged_proxy.client
    items = [
        {"role": "user", "content": "Summarise the report"},
        {"type": "function_call", "call_id": "c1", "name": "read", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "Revenue grew 4%"},
    ]
    if stream:
        events = list(client.responses.create(model="mini", input=items, stream=True))  # type: ignore[arg-type]
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    else:
        text = client.responses.create(model="mini", input=items).output_text  # type: ignore[arg-type]
    exchange = judged_proxy.kept(text)
    assert exchange.api == "responses" and exchange.answer == text
    assert exchange.goal == "Summarise the report" and exchange.turn == "[tool result] Revenue grew 4%"


def test_without_a_judge_the_proxy_keeps_no_exchange(
    emulator: RunningServer, redis_url: str, tmp_path: Path, start_proxy: Callable[[Config], RunningServer]
) -> None:
    server = start_proxy(durable_config(emulator.url, redis_url, tmp_path / "spool"))
    client = OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=20)
    client.chat.completions.create(model="mini", messages=AGENT_TURN)  # type: ignore[arg-type]
    store = redis.Redis.from_url(redis_url)
    wait_until(lambda: store.xlen("routetax:{ledger}:records") == 1, "the request's record in the ledger")
    assert store.keys("*judge*") == []
    assert server.app.app.state.judge is None  # type: ignore[attr-defined]


def test_a_task_the_client_ended_is_graded_by_the_judge_and_compared_with_later_feedback(
    emulator: RunningServer, redis_url: str, tmp_path: Path, start_proxy: Callable[[Config], RunningServer]
) -> None:
    # The judge on `full` (gpt-5.4), the traffic on mini: the scripted verdict goes to the judge alone.
    server = start_proxy(with_judge(durable_config(emulator.url, redis_url, tmp_path / "spool"), tier="full"))
    metering: MeteringPipeline = server.app.app.state.metering  # type: ignore[attr-defined]
    observe = metering.router_stages.policy

    def policy(record: Record) -> None:  # what task identity does with these headers, where it is not merged yet
        if record.task_id is None and record.label != JUDGE_LABEL:
            record.task_id, record.task_source, record.task_end = "order-7", TaskSource.HEADER, True
        if observe is not None:
            observe(record)

    metering.router_stages = dataclasses.replace(metering.router_stages, policy=policy)
    script(emulator, "gpt-5.4", answers=["FAILURE"])
    client = OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=20)
    client.chat.completions.create(
        model="mini",
        messages=AGENT_TURN,  # type: ignore[arg-type]
        extra_headers={"x-routetax-task": "order-7", "x-routetax-task-end": "true"},
    )

    def task_record() -> TaskRecord | None:
        async def read() -> list[TaskRecord]:
            store = open_store(redis_url)
            try:
                return [task async for task in TaskBook(store, TaskSettings()).read()]
            finally:
                await store.aclose()

        tasks = asyncio.run(read())
        return tasks[0] if tasks and tasks[0].outcome_source == OutcomeSource.JUDGE else None

    task = wait_until(task_record, "the task closed and graded by the judge", timeout_s=30)
    assert task.task_id == "order-7" and task.outcome == TaskOutcome.FAILURE
    assert (task.outcome_reason or "").startswith("judge full: FAILURE")
    ledger = redis.Redis.from_url(redis_url)

    def judge_calls() -> list[dict]:
        records = [orjson.loads(fields[b"r"]) for _, fields in ledger.xrange("routetax:{ledger}:records")]
        return [record for record in records if record["label"] == JUDGE_LABEL]

    (call,) = wait_until(judge_calls, "the judge's call in the ledger")
    assert call["task_id"] is None and call["cost_usd"] > 0 and call["routed_tier"] == "full"
    assert task.requests == 1  # the judge's call is no step of the task it graded

    answer = httpx.post(f"{server.url}/v1/feedback", json={"task": "order-7", "success": False})
    assert answer.status_code == 200
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'routetax_judge_agreement_total{agree="true"} 1.0' in metrics
