"""Task records: built from request records in the ledger, closed when idle or ended, with an honest outcome.

The in-process store (what the quickstart and the demo run on) for the rules; a real redis-server for the
durable promises: a killed process's open tasks are closed by the next one, and a record replayed from
the disk spool still lands in its task.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from starlette.requests import Request

from cli import main as routetax
from metering.ledger import Keys, Ledger, task_member
from metering.ledger_export import TASK_CSV_COLUMNS, ExportFormat, export_tasks
from metering.metrics import Metrics
from metering.metrics_group import MetricsGroup
from metering.pipeline import MeteringPipeline, MeteringSettings
from metering.record import Attempt, Outcome, Record, Usage
from metering.store import Store, open_in_process_store, open_store
from metering.tasks import (
    DetectedReason,
    OutcomeSource,
    TaskBook,
    TaskEndedBy,
    TaskOutcome,
    TaskRecord,
    TaskSettings,
    record_of,
)
from router.app import submit_feedback
from router.errors import ProxyError
from tests.redis_server import RedisClusterServers, free_port
from tests.waiting import async_wait_until

T0 = 1_767_268_800.0  # 2026-01-01T12:00:00Z: every task here ended long ago, so "now" decides when it closes
IDLE = 300.0
SETTINGS = TaskSettings(idle_s=IDLE, max_steps=6, repeated_calls=3, grace_s=5.0)


def step(
    n: int,
    *,
    task: str = "task_a",
    key: str | None = "key_alice",
    tier: str = "mini",
    request_id: str | None = None,
    calls: str | None = None,
    agentic: bool = False,
    status: int = 200,
    outcome: Outcome = Outcome.SUCCESS,
    end: bool = False,
    fallback_to: str | None = None,
    **fields: object,
) -> Record:
    """Step `n` of a task, 10 s apart, one billed attempt (two with a fallback) of 0.01 USD each."""
    usage = Usage(prompt_tokens=1000, cached_tokens=400, completion_tokens=100, reasoning_tokens=20)
    attempts = [Attempt(tier=tier, model=f"gpt-{tier}", status=status, usage=usage, cost_usd=0.01, billed=True)]
    if fallback_to:
        attempts.append(Attempt(tier=fallback_to, model=f"gpt-{fallback_to}", usage=usage, cost_usd=0.01, billed=True))
    started = T0 + 10 * n
    return Record(
        request_id=request_id or f"{task}-{n}",
        started_at=started,
        ended_at=started + 2,
        key_id=key,
        routed_tier=tier,
        tier_path=[a.tier for a in attempts],
        attempts=attempts,
        usage=usage,
        cost_usd=0.01 * len(attempts),
        status=status,
        outcome=outcome,
        task_id=task,
        task_step=n,
        task_class="agentic" if agentic else "single_turn",
        task_class_reason="loop_signal" if agentic else "classifier",
        task_end=end,
        answer_calls=calls,
        **fields,  # type: ignore[arg-type]
    )


async def write(store: Store, tmp_path: Path, *records: Record) -> Ledger:
    ledger = Ledger(store, str(tmp_path / "spool"), task_idle_s=IDLE, task_grace_s=SETTINGS.grace_s)
    await ledger.start()
    for record in records:
        ledger.submit(record)
    assert await ledger.drain()
    await ledger.aclose()
    return ledger


def last_end(*records: Record) -> float:
    return max(r.ended_at for r in records)


async def closed(store: Store, *records: Record, tmp_path: Path, now: float | None = None) -> list[TaskRecord]:
    await write(store, tmp_path, *records)
    book = TaskBook(store, SETTINGS)
    return await book.close_due(now=last_end(*records) + IDLE + 1 if now is None else now)


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    store = open_in_process_store()
    yield store
    await store.aclose()


# -- aggregation -----------------------------------------------------------------------------------------


async def test_a_task_record_sums_every_attempt_of_every_step_and_keeps_its_first_steps_arm(
    store: Store, tmp_path: Path
) -> None:
    records = [
        step(2, tier="nano", agentic=True, fallback_to="full"),  # arrives first: the arm is still step 1's
        step(1, tier="mini", explored=True),
        step(3, tier="mini"),
    ]
    [task] = await closed(store, *records, tmp_path=tmp_path)
    assert (task.task_id, task.key_id, task.arm, task.explored) == ("task_a", "key_alice", "mini", True)
    assert (task.steps, task.requests, task.attempts) == (3, 3, 4)
    assert task.cost_usd == pytest.approx(0.04)
    assert (task.prompt_tokens, task.cached_tokens, task.completion_tokens, task.reasoning_tokens) == (
        4000,
        1600,
        400,
        80,
    )
    assert sorted(task.tiers) == ["full", "mini", "nano"]
    assert (task.task_class, task.task_class_reason) == ("agentic", "loop_signal")  # one agentic step is enough
    assert (task.started_at, task.ended_at) == (records[1].started_at, records[2].ended_at)
    assert task.ended_by is TaskEndedBy.IDLE


def test_every_field_of_a_closed_tasks_state_lands_in_its_own_place_on_the_record() -> None:
    """`record_of` builds the record by position (it runs for every task closed): each field of the script's state,
    given a value no other field has, must come out under its own name."""
    state = {
        "task_id": "t-7", "key_id": "key_k", "class": "agentic", "class_reason": "loop_signal", "arm": "nano",
        "explored": 1, "pinned": 0, "steps": 3, "requests": 4, "attempts": 5, "tiers": "nano,mini",
        "cost_usd": 0.25, "prompt_tokens": 6, "cached_tokens": 7, "completion_tokens": 8, "reasoning_tokens": 9,
        "started_at": 10.5, "last_end": 11.5, "ended_by": "client", "last_status": 502, "last_outcome": "failed",
    }  # fmt: skip
    record = record_of(state, SETTINGS, now=12.5)
    assert record.to_dict() == {
        "task_id": "t-7", "key_id": "key_k", "task_class": "agentic", "task_class_reason": "loop_signal",
        "arm": "nano", "explored": True, "pinned": False, "steps": 3, "requests": 4, "attempts": 5,
        "tiers": ["nano", "mini"], "cost_usd": 0.25, "prompt_tokens": 6, "cached_tokens": 7,
        "completion_tokens": 8, "reasoning_tokens": 9, "started_at": 10.5, "ended_at": 11.5,
        "ended_by": TaskEndedBy.CLIENT, "outcome": TaskOutcome.UNKNOWN, "outcome_source": None,
        "outcome_reason": None, "detected_reason": DetectedReason.LAST_REQUEST_FAILED, "last_status": 502,
        "last_outcome": "failed", "closed_at": 12.5,
    }  # fmt: skip


async def test_a_replayed_or_double_submitted_record_counts_once_in_its_task(store: Store, tmp_path: Path) -> None:
    first, second = step(1), step(2)
    await write(store, tmp_path, first, second, first)
    [task] = await closed(store, second, tmp_path=tmp_path)  # written a third time
    assert (task.requests, task.attempts) == (2, 2)
    assert task.cost_usd == pytest.approx(0.02)


async def test_two_keys_with_one_task_id_are_two_tasks(store: Store, tmp_path: Path) -> None:
    tasks = await closed(store, step(1, key="key_alice"), step(1, key="key_bob", request_id="b1"), tmp_path=tmp_path)
    assert sorted((t.key_id, t.requests) for t in tasks) == [("key_alice", 1), ("key_bob", 1)]


async def test_every_process_runs_a_loop_that_closes_due_tasks(store: Store, tmp_path: Path) -> None:
    await write(store, tmp_path, step(1))  # ended long ago: due now
    book = TaskBook(store, SETTINGS, interval_s=0.01)
    await book.start()
    try:
        await async_wait_until(lambda: store.xlen(book.keys.stream), "the task record")
    finally:
        await book.aclose()


async def test_a_task_stays_open_until_idle_and_shutdown_does_not_close_it_early(store: Store, tmp_path: Path) -> None:
    fresh = step(1)
    fresh.started_at, fresh.ended_at = T0 + 10**9, T0 + 10**9 + 1  # its idle end is far in the future
    await write(store, tmp_path, fresh)
    book = TaskBook(store, SETTINGS, interval_s=0.01)
    await book.start()
    await asyncio.sleep(0.05)
    await book.aclose()
    assert await store.xlen(book.keys.stream) == 0
    assert await book.close_due(now=fresh.ended_at + IDLE - 1) == []
    assert [t.task_id for t in await book.close_due(now=fresh.ended_at + IDLE + 1)] == ["task_a"]


async def test_the_end_header_closes_the_task_after_a_short_grace_not_the_idle_time(
    store: Store, tmp_path: Path
) -> None:
    records = [step(1), step(2, end=True)]
    await write(store, tmp_path, *records)
    book = TaskBook(store, SETTINGS)
    assert await book.close_due(now=records[1].ended_at + 1) == []  # a step still in flight may land
    [task] = await book.close_due(now=records[1].ended_at + SETTINGS.grace_s + 1)
    assert task.ended_by is TaskEndedBy.CLIENT and task.steps == 2


async def test_closed_listeners_get_the_tasks_the_process_closed(store: Store, tmp_path: Path) -> None:
    await write(store, tmp_path, step(1), step(1, task="task_b"))
    book = TaskBook(store, SETTINGS)
    heard: list[list[TaskRecord]] = []
    book.add_closed_listener(heard.append)
    await book.close_due(now=T0 + 10 * IDLE)
    assert [sorted(t.task_id for t in batch) for batch in heard] == [["task_a", "task_b"]]


async def test_a_late_step_replayed_after_the_task_closed_reopens_it_and_the_export_has_one_complete_record(
    store: Store, tmp_path: Path
) -> None:
    metrics = Metrics()
    await write(store, tmp_path, step(1))
    book = TaskBook(store, SETTINGS, on_closed=metrics.observe_task)
    await book.close_due(now=T0 + 10 * IDLE)
    await write(store, tmp_path, step(2))  # e.g. replayed from a spool after the task had closed
    [task] = await book.close_due(now=T0 + 10 * IDLE)
    assert task.requests == 2
    assert [t.requests async for t in book.read()] == [2]
    text = metrics.render().decode()
    assert 'routetax_tasks_total{class="single_turn",outcome="unknown",source="none",tier="mini"} 1.0' in text
    assert 'routetax_task_cost_usd_total{class="single_turn",tier="mini"} 0.02' in text


# -- outcomes ----------------------------------------------------------------------------------------------


async def test_a_task_nobody_judged_and_nothing_failed_is_unknown_never_success(store: Store, tmp_path: Path) -> None:
    [task] = await closed(store, step(1), step(2), tmp_path=tmp_path)
    assert (task.outcome, task.outcome_source, task.outcome_reason) == (TaskOutcome.UNKNOWN, None, None)


@pytest.mark.parametrize(
    ("records", "reason"),
    [
        ([step(1), step(2, status=502, outcome=Outcome.FAILED)], DetectedReason.LAST_REQUEST_FAILED),
        (
            [step(1), step(2, degraded_reason="bad_tool_json", outcome=Outcome.DEGRADED)],
            DetectedReason.LAST_REQUEST_DEGRADED,
        ),
        ([step(n, end=n == 6) for n in range(1, 7)], DetectedReason.MAX_STEPS),
        ([step(n, calls="c1" if n > 1 else "c0", end=n == 4) for n in range(1, 5)], DetectedReason.REPEATED_CALLS),
        ([step(1, calls="c1"), step(2, calls="c2")], DetectedReason.ABANDONED),
    ],
    ids=["last-request-failed", "last-request-degraded", "step-cap", "repeated-tool-calls", "abandoned-mid-loop"],
)
async def test_a_failure_is_detected_and_named(
    store: Store, tmp_path: Path, records: list[Record], reason: DetectedReason
) -> None:
    [task] = await closed(store, *records, tmp_path=tmp_path)
    assert (task.outcome, task.outcome_source, task.detected_reason) == (
        TaskOutcome.FAILURE,
        OutcomeSource.DETECTED,
        reason,
    )
    assert task.outcome_reason == reason.value


async def test_a_failure_early_in_the_task_is_not_its_outcome(store: Store, tmp_path: Path) -> None:
    records = [step(1, status=500, outcome=Outcome.FAILED), step(2)]
    [task] = await closed(store, *records, tmp_path=tmp_path)
    assert task.outcome is TaskOutcome.UNKNOWN


@pytest.mark.parametrize(
    "records",
    [
        [step(1, calls="extract")],  # a one-step forced tool call (extraction) is not an abandoned loop
        [step(1, calls="c1"), step(2, calls="c2", end=True)],  # the client said it ended there
    ],
    ids=["one-step-tool-call", "ended-by-client"],
)
async def test_a_task_that_ends_on_a_tool_call_is_not_always_abandoned(
    store: Store, tmp_path: Path, records: list[Record]
) -> None:
    [task] = await closed(store, *records, tmp_path=tmp_path)
    assert task.detected_reason is None and task.outcome is TaskOutcome.UNKNOWN


async def test_the_outcome_follows_feedback_then_detected_then_judge(store: Store, tmp_path: Path) -> None:
    await write(
        store, tmp_path, step(1), step(1, task="failed", status=500, outcome=Outcome.FAILED), step(1, task="both")
    )
    book = TaskBook(store, SETTINGS)
    await book.record_judgement("key_alice", "task_a", True, "looks done")
    await book.record_judgement("key_alice", "failed", True, "judge thinks fine")
    await book.close_due(now=T0 + 10 * IDLE)
    await book.feedback("key_alice", "both", False, "the user redid it")
    await book.record_judgement("key_alice", "both", True, None)
    tasks = {t.task_id: t async for t in book.read()}
    assert (tasks["task_a"].outcome, tasks["task_a"].outcome_source) == (TaskOutcome.SUCCESS, OutcomeSource.JUDGE)
    assert (tasks["failed"].outcome, tasks["failed"].outcome_source) == (TaskOutcome.FAILURE, OutcomeSource.DETECTED)
    assert (tasks["both"].outcome, tasks["both"].outcome_source, tasks["both"].outcome_reason) == (
        TaskOutcome.FAILURE,
        OutcomeSource.FEEDBACK,
        "the user redid it",
    )
    await book.feedback("key_alice", "failed", True, "it worked in the end")  # the application overrides detection
    tasks = {t.task_id: t async for t in book.read()}
    assert (tasks["failed"].outcome, tasks["failed"].outcome_source) == (TaskOutcome.SUCCESS, OutcomeSource.FEEDBACK)


async def test_feedback_ends_an_open_task_after_the_grace(store: Store, tmp_path: Path) -> None:
    fresh = step(1)
    fresh.started_at, fresh.ended_at = T0 + 10**9, T0 + 10**9 + 1  # idle end far away
    await write(store, tmp_path, fresh)
    book = TaskBook(store, SETTINGS)
    await book.feedback("key_alice", "task_a", True, None)
    assert await book.close_due() == []  # within the grace
    [task] = await book.close_due(now=time.time() + SETTINGS.grace_s + 1)
    assert (task.ended_by, task.outcome, task.outcome_source) == (
        TaskEndedBy.FEEDBACK,
        TaskOutcome.SUCCESS,
        OutcomeSource.FEEDBACK,
    )


# -- feedback through the API ------------------------------------------------------------------------------


class _Auto:
    def feedback(self, request_id: str, success: bool) -> None:
        pass


def _request(body: dict[str, object]) -> Request:
    payload = orjson.dumps(body)

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": payload, "more_body": False}

    return Request({"type": "http", "method": "POST", "path": "/v1/feedback", "headers": []}, receive)


async def _feedback(store: Store, metering: MeteringPipeline, owner: str | None, **body: object) -> dict:
    response = await submit_feedback(_request(body), store, metering, _Auto(), owner)  # type: ignore[arg-type]
    return orjson.loads(response.body)


async def test_feedback_names_a_task_by_its_id_or_by_a_request_of_it_and_only_its_own_key_may(
    store: Store, tmp_path: Path
) -> None:
    metering = MeteringPipeline(MeteringSettings(tasks=SETTINGS))
    await write(store, tmp_path, step(1), step(2), step(1, task="task_b"))
    assert (await _feedback(store, metering, "key_alice", task="task_a", success=True))["recorded"]
    answer = await _feedback(store, metering, "key_alice", request_id="task_b-1", success=False, reason="wrong")
    assert answer["task"] == "task_b"
    for body in ({"task": "task_a"}, {"request_id": "task_a-1"}, {"task": "no-such-task"}):
        with pytest.raises(ProxyError) as refused:
            await _feedback(store, metering, "key_bob", success=False, **body)
        assert refused.value.status == 404  # another key's task looks exactly like an unknown one
    book = TaskBook(store, SETTINGS)
    await book.close_due(now=time.time() + SETTINGS.grace_s + 1)
    tasks = {t.task_id: t async for t in book.read()}
    assert (tasks["task_a"].outcome, tasks["task_a"].ended_by) == (TaskOutcome.SUCCESS, TaskEndedBy.FEEDBACK)
    assert (tasks["task_b"].outcome, tasks["task_b"].outcome_reason) == (TaskOutcome.FAILURE, "wrong")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"task": "t", "request_id": "r", "success": True}, "task"),
        ({"success": True}, "request_id"),
        ({"task": 3, "success": True}, "task"),
        ({"task": "t", "success": "yes"}, "success"),
        ({"task": "t", "success": True, "reason": 1}, "reason"),
        ({"task": "t", "success": True, "key_id": "key_x"}, "key_id"),
    ],
    ids=["both", "neither", "task-not-a-string", "success-not-a-bool", "reason-not-a-string", "key-id-not-admin"],
)
async def test_bad_feedback_is_refused_in_openai_format(store: Store, body: dict, param: str) -> None:
    metering = MeteringPipeline(MeteringSettings(tasks=SETTINGS))
    with pytest.raises(ProxyError) as refused:
        await _feedback(store, metering, "key_alice", **body)
    assert refused.value.status == 400 and refused.value.param == param


# -- export and metrics --------------------------------------------------------------------------------------


async def test_the_export_carries_each_task_with_its_resolved_outcome_in_jsonl_and_csv(
    store: Store, tmp_path: Path
) -> None:
    await write(store, tmp_path, step(1), step(2, calls="c", status=500, outcome=Outcome.FAILED))
    book = TaskBook(store, SETTINGS)
    await book.close_due(now=T0 + 10 * IDLE)
    await book.feedback("key_alice", "task_a", True, "fine after all")  # after the record was written: it wins
    out = io.StringIO()
    assert await export_tasks(store, out) == 1
    [line] = [orjson.loads(text) for text in out.getvalue().splitlines()]
    assert (line["outcome"], line["outcome_source"], line["detected_reason"]) == (
        "success",
        "feedback",
        "last_request_failed",
    )
    out = io.StringIO()
    await export_tasks(store, out, fmt=ExportFormat.CSV, since=T0, until=T0 + 60)
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(row) == TASK_CSV_COLUMNS
    assert (row["task_id"], row["steps"], row["outcome"], row["outcome_source"], row["arm"]) == (
        "task_a",
        "2",
        "success",
        "feedback",
        "mini",
    )
    out = io.StringIO()
    assert await export_tasks(store, out, since=T0 + 60) == 0


async def test_closing_counts_tasks_by_arm_class_outcome_and_source(store: Store, tmp_path: Path) -> None:
    metrics = Metrics()
    await write(
        store, tmp_path, step(1, agentic=True, status=500, outcome=Outcome.FAILED), step(1, task="b", tier="nano")
    )
    await TaskBook(store, SETTINGS, on_closed=metrics.observe_task).close_due(now=T0 + 10 * IDLE)
    text = metrics.render().decode()
    assert 'routetax_tasks_total{class="agentic",outcome="failure",source="detected",tier="mini"} 1.0' in text
    assert 'routetax_tasks_total{class="single_turn",outcome="unknown",source="none",tier="nano"} 1.0' in text
    assert 'routetax_task_cost_usd_total{class="agentic",tier="mini"} 0.01' in text


# -- durable: a real redis-server ------------------------------------------------------------------------------


async def test_a_task_left_open_by_a_killed_process_is_closed_by_the_next(redis_url: str, tmp_path: Path) -> None:
    store = open_store(redis_url)
    try:
        await write(store, tmp_path, step(1, calls="c"), step(2))
        claimed = TaskBook(store, SETTINGS)
        # a process that claimed the task and died before writing it (its lease runs out)
        raw = await store.eval("return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '+inf')", 1, claimed.keys.open)
        assert raw == [task_member("key_alice", "task_a").encode()]
        del claimed
    finally:
        await store.aclose()
    store = open_store(redis_url)  # the next process, with its own client and book
    try:
        [task] = await TaskBook(store, SETTINGS).close_due(now=T0 + 10 * IDLE)
        assert (task.requests, task.steps) == (2, 2)
        assert await TaskBook(store, SETTINGS).close_due(now=T0 + 10 * IDLE) == []  # closed once
        assert [t.task_id async for t in TaskBook(store).read()] == ["task_a"]
    finally:
        await store.aclose()


async def test_a_claim_that_dies_before_writing_is_taken_again_after_its_lease(redis_url: str, tmp_path: Path) -> None:
    store = open_store(redis_url)
    try:
        await write(store, tmp_path, step(1))
        book = TaskBook(store, SETTINGS)
        now = T0 + 10 * IDLE
        await store.eval(  # what the claim does before the closer writes the record: lease the task
            "redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])", 1, book.keys.open, str(now + 30), "key_alice:task_a"
        )
        assert await book.close_due(now=now) == []  # another process holds it
        assert [t.task_id for t in await book.close_due(now=now + 31)] == ["task_a"]
    finally:
        await store.aclose()


async def test_a_record_replayed_from_the_disk_spool_lands_in_its_task(redis_url: str, tmp_path: Path) -> None:
    store = open_store(redis_url)
    down = open_store(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there: Redis is down
    try:
        ledger = Ledger(store, str(tmp_path / "spool"), retry_interval_s=0.05, task_idle_s=IDLE)
        await ledger.start()
        ledger.submit(step(1))
        assert await ledger.drain()
        ledger.store = down
        ledger.submit(step(2))
        await async_wait_until(lambda: ledger.spool_depth == 1, "step 2 on the spool")
        ledger.store = store  # Redis is back: the spool is replayed
        assert await ledger.drain(15)
        await ledger.aclose()
        [task] = await TaskBook(store, SETTINGS).close_due(now=T0 + 10 * IDLE)
        assert (task.requests, task.steps) == (2, 2)
    finally:
        await down.aclose()
        await store.aclose()


async def test_the_open_task_lives_in_the_ledgers_hash_slot(redis_url: str, tmp_path: Path) -> None:
    store = open_store(redis_url)
    try:
        await write(store, tmp_path, step(1))
        assert await store.exists(Keys().task(task_member("key_alice", "task_a")))
        assert all("{ledger}" in key.decode() for key in await store.keys("*"))
    finally:
        await store.aclose()


def test_serve_with_workers_sums_every_workers_task_counts(tmp_path: Path) -> None:
    workers = [Metrics(), Metrics()]
    task = TaskRecord(task_id="t", arm="mini", task_class="agentic", cost_usd=0.25)
    for worker, metrics in enumerate(workers):
        metrics.observe_task(task, None)
        MetricsGroup(tmp_path, worker, metrics.registry).publish()
    text = MetricsGroup(tmp_path, 0, workers[0].registry).render().decode()
    assert 'routetax_tasks_total{class="agentic",outcome="unknown",source="none",tier="mini"} 2.0' in text
    assert 'routetax_task_cost_usd_total{class="agentic",tier="mini"} 0.5' in text


@pytest.mark.parametrize("enabled", [True, False])
async def test_the_pipeline_runs_a_task_book_only_with_tasks_on(store: Store, tmp_path: Path, enabled: bool) -> None:
    settings = MeteringSettings(spool_dir=str(tmp_path), tasks=TaskSettings(enabled=enabled))
    pipeline = MeteringPipeline(settings)
    await pipeline.start(store, durable=False)
    try:
        assert (pipeline.tasks is not None) is enabled
    finally:
        await pipeline.aclose()


async def test_tasks_close_on_a_three_node_redis_cluster(redis_cluster: RedisClusterServers, tmp_path: Path) -> None:
    store = open_store(redis_cluster.url, cluster=True)
    try:
        await write(store, tmp_path, step(1), step(2, end=True))
        book = TaskBook(store, SETTINGS)
        await book.feedback("key_alice", "task_a", False, "wrong answer")
        [task] = await book.close_due(now=T0 + 10 * IDLE)
        assert (task.requests, task.ended_by, task.outcome) == (2, TaskEndedBy.CLIENT, TaskOutcome.FAILURE)
        assert [t.outcome_source async for t in book.read()] == [OutcomeSource.FEEDBACK]
    finally:
        await store.aclose()


async def test_a_listener_added_to_the_pipeline_before_start_hears_of_closed_tasks(
    store: Store, tmp_path: Path
) -> None:
    pipeline = MeteringPipeline(MeteringSettings(spool_dir=str(tmp_path), tasks=SETTINGS))
    heard: list[list[TaskRecord]] = []
    pipeline.add_closed_listener(heard.append)
    await write(store, tmp_path, step(1))
    await pipeline.start(store, durable=False)
    try:
        assert pipeline.tasks is not None
        await pipeline.tasks.close_due(now=T0 + 10 * IDLE)
    finally:
        await pipeline.aclose()
    assert [[t.task_id for t in batch] for batch in heard] == [["task_a"]]


async def test_feedback_that_arrives_before_the_tasks_records_waits_for_them(store: Store, tmp_path: Path) -> None:
    metering = MeteringPipeline(MeteringSettings(tasks=SETTINGS))
    record = step(1, task="early")
    record.started_at, record.ended_at = time.time() - 2, time.time() - 1
    metering.expect(record.request_id, record.key_id, record.task_id)  # served here, not in the ledger yet
    assert (await _feedback(store, metering, "key_alice", task="early", success=True))["recorded"]
    await write(store, tmp_path, record)
    [task] = await TaskBook(store, SETTINGS).close_due(now=time.time() + SETTINGS.grace_s + 1)
    assert (task.requests, task.ended_by, task.outcome) == (1, TaskEndedBy.FEEDBACK, TaskOutcome.SUCCESS)


async def test_the_admin_names_a_keys_task_with_key_id(store: Store, tmp_path: Path) -> None:
    metering = MeteringPipeline(MeteringSettings(tasks=SETTINGS))
    await write(store, tmp_path, step(1))
    with pytest.raises(ProxyError):
        await _feedback(store, metering, None, task="task_a", success=True)  # no key named: a keyless task
    assert (await _feedback(store, metering, None, task="task_a", key_id="key_alice", success=True))["recorded"]


def test_ledger_export_tasks_writes_csv_from_the_command_line(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def fill() -> None:
        store = open_store(redis_url)
        try:
            await write(store, tmp_path, step(1), step(2, status=500, outcome=Outcome.FAILED))
            await TaskBook(store, SETTINGS).close_due(now=T0 + 10 * IDLE)
        finally:
            await store.aclose()

    asyncio.run(fill())
    assert routetax(["ledger", "export", "--tasks", "--format", "csv", "--redis-url", redis_url]) == 0
    out, err = capsys.readouterr()
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert (row["task_id"], row["outcome"], row["outcome_source"], row["detected_reason"]) == (
        "task_a",
        "failure",
        "detected",
        "last_request_failed",
    )
    assert "exported 1 task(s)" in err
