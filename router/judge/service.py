"""The judge: keeps sampled tasks' final exchanges, grades those that end without a word, meters its calls.

Three moments, none of them on a request's path:
- a sampled task's step finishes: the metering pipeline's last stage (`keep`) puts its final exchange
  in the store, in the background (`ExchangeKeeper`);
- tasks close (in whichever process closes them): `closed` queues the sampled ones whose outcome is still
  unknown — no feedback, no detected failure — and a few workers (`CONCURRENCY`) grade them: the judge
  tier is called through the router's upstream pool, the call is metered like any request but as the
  judge's (`label` judge: spend, tokens and the ledger count it; tasks, the report and policies do not),
  and the grade goes to the task book (`record_judgement`);
- the application's feedback names a sampled task: `feedback` compares it with the judge's grade.
A failing judge (its tier down, a full queue, the store refusing) leaves tasks ungraded and says so in
`routetax_judge_tasks_total`; serving never notices.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import orjson

from metering.completion import Completion
from metering.metrics import Metrics
from metering.record import JUDGE_LABEL, Attempt, EndedBy, Outcome, Record
from metering.store import Store
from router.config import Config, Judge, Tier
from router.dialects import dialect_for
from router.judge.exchange import FinalExchange, final_exchange
from router.judge.grader import answer_of, grade_of, judge_body, reason_of
from router.judge.keeper import ExchangeKeeper
from router.judge.sampling import sampled
from router.stopping import stop_task
from router.upstream import UpstreamFailure

log = logging.getLogger("routetax.judge")

CONCURRENCY = 4  # judge calls at once, per process
QUEUE = 1_000  # closed tasks waiting for a grade, per process; more are dropped (counted)
CALL_TIMEOUT_S = 60.0
EXCHANGE_GRACE_S = 300.0  # the exchange outlives the task's idle end by this much: time to close and grade it


class ClosedTask(Protocol):
    """What the judge reads of a closed task record (`metering.tasks.TaskRecord`)."""

    task_id: str
    key_id: str | None
    outcome: Any  # success | failure | unknown
    outcome_source: Any  # feedback | detected | judge | None


class TaskBook(Protocol):
    """What the judge needs of the task book (`metering.tasks.TaskBook`)."""

    def add_closed_listener(self, fn: Callable[[list[Any]], None]) -> None: ...

    async def record_judgement(self, key_id: str | None, task_id: str, success: bool, reason: str | None) -> None: ...


class Pool(Protocol):
    """The router's upstream pool (`router.upstream.UpstreamPool`), as far as the judge uses it."""

    async def send(self, tier: str, path: str, payload: bytes) -> Any: ...


Meter = Callable[[Record, Completion], None]


class TaskJudge:
    """The optional judge of one process (`tasks.judge`); None of it exists when the judge is not configured."""

    def __init__(self, config: Judge, tier: Tier, idle_s: float, pool: Pool, meter: Meter, metrics: Metrics) -> None:
        self.config = config
        self.tier = tier
        self.pool = pool
        self.meter = meter
        self.metrics = metrics
        self.dialect = dialect_for(tier.dialect)
        self.keeper = ExchangeKeeper(idle_s + EXCHANGE_GRACE_S, on_dropped=self._count("dropped"))
        self.book: TaskBook | None = None
        self._book_source: Callable[[], TaskBook | None] | None = None
        self._queue: asyncio.Queue[tuple[str | None, str]] = asyncio.Queue(QUEUE)
        self._workers: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._logged_at = -3600.0

    # -- lifetime ------------------------------------------------------------------------------

    def attach(self, book: TaskBook) -> None:
        """Grade the tasks `book` closes, and give it the grades."""
        self.book = book
        book.add_closed_listener(self.closed)

    def grades_to(self, book: Callable[[], TaskBook | None]) -> None:
        """Give the grades to the task book `book()` returns when a grade is made (it exists once metering runs)."""
        self._book_source = book

    async def start(self, store: Store) -> None:
        self._loop = asyncio.get_running_loop()
        self.keeper.start(store)
        self._workers = [self._loop.create_task(self._work(), name=f"routetax-judge-{n}") for n in range(CONCURRENCY)]

    async def aclose(self) -> None:
        """Stop grading (tasks still queued go ungraded: the judge is measurement) and flush the exchanges."""
        for worker in self._workers:
            await stop_task(worker)  # also when a store call swallowed the cancellation (router.stopping)
        self._workers = []
        await self.keeper.aclose()

    async def drain(self) -> None:
        """Wait until every queued task is graded (tests, and a graceful stop that wants the grades)."""
        await self._queue.join()

    # -- the three moments ---------------------------------------------------------------------

    def keep(self, record: Record, completion: Completion) -> None:
        """The pipeline's final-exchange stage: a sampled task's step has finished."""
        if record.task_id is None or not sampled(record.key_id, record.task_id, self.config.share):
            return
        self.keeper.keep(record.key_id, record.task_id, final_exchange(record, completion))

    def closed(self, tasks: Iterable[ClosedTask]) -> None:
        """The task book's closed listener: queue the sampled tasks that ended without a word on them."""
        chosen = [
            (task.key_id, task.task_id)
            for task in tasks
            if _value(task.outcome) == "unknown"
            and task.outcome_source is None
            and sampled(task.key_id, task.task_id, self.config.share)
        ]
        if not chosen:
            return
        loop = self._loop
        if loop is None:
            return  # not started: nothing grades
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._enqueue(chosen)
        else:  # closed in another thread of this process
            loop.call_soon_threadsafe(self._enqueue, chosen)

    async def feedback(self, key_id: str | None, task_id: str, success: bool) -> None:
        """The application's word on a task: counted against the judge's grade when the task has one."""
        if not sampled(key_id, task_id, self.config.share):
            return  # never judged: nothing to compare, no I/O
        try:
            graded = await self.keeper.word(key_id, task_id, "feedback", success)
        except Exception as exc:
            self._warn("the judge could not compare feedback with its grade: %s", exc)
            return
        if graded is not None:
            self.metrics.judge_agreement.labels("true" if graded == success else "false").inc()

    # -- grading -------------------------------------------------------------------------------

    def _enqueue(self, chosen: list[tuple[str | None, str]]) -> None:
        for item in chosen:
            try:
                self._queue.put_nowait(item)
            except asyncio.QueueFull:
                self.metrics.judge_tasks.labels("dropped").inc()

    async def _work(self) -> None:
        while True:
            key_id, task_id = await self._queue.get()
            try:
                await self.grade(key_id, task_id)
            except Exception:  # a bug here must not stop the other grades
                log.exception("the judge failed on a task")
            finally:
                self._queue.task_done()

    async def grade(self, key_id: str | None, task_id: str) -> bool | None:
        """Grade one ended task from its final exchange; the grade (None: none) goes to the task book."""
        try:
            exchange = await self.keeper.take(key_id, task_id)
        except Exception as exc:  # the store is down: this task goes ungraded
            self._warn("the judge could not read a final exchange from the store: %s", exc)
            exchange = None
        if exchange is None:
            self.metrics.judge_tasks.labels("no_exchange").inc()
            return None
        text = await self._call(exchange)
        if text is None:
            self.metrics.judge_tasks.labels("call_failed").inc()
            return None
        success = grade_of(text)
        if success is None:
            self.metrics.judge_tasks.labels("ungraded").inc()
            self._warn("the judge's answer was neither SUCCESS nor FAILURE: %r", text[:200])
            return None
        self.metrics.judge_tasks.labels("success" if success else "failure").inc()
        try:
            book = self.book or (self._book_source() if self._book_source is not None else None)
            if book is not None:
                await book.record_judgement(key_id, task_id, success, reason_of(self.config.tier, text))
            feedback = await self.keeper.word(key_id, task_id, "judge", success)
        except Exception as exc:
            self._warn("the judge could not record its grade or compare it with feedback: %s", exc)
            feedback = None
        if feedback is not None:
            self.metrics.judge_agreement.labels("true" if feedback == success else "false").inc()
        return success

    async def _call(self, exchange: FinalExchange) -> str | None:
        """One call to the judge's tier, metered as the judge's; its answer's text (None: no usable answer)."""
        name, model = self.config.tier, self.tier.model
        body = judge_body(model, self.config.prompt, exchange, self.tier.dialect)
        self.dialect.adjust_request(body, api="chat", stream=False)
        started = time.time()
        attempt = Attempt(tier=name, model=model, started_at=started)
        record = Record(
            request_id=f"judge_{uuid.uuid4().hex}",
            started_at=started,
            requested_model=model,
            label=JUDGE_LABEL,
            routed_tier=name,
            tier_path=[name],
            attempts=[attempt],
        )
        raw: bytes | None = None
        try:
            response = await asyncio.wait_for(self._send(name, orjson.dumps(body)), CALL_TIMEOUT_S)
            attempt.status, raw = response
        except (UpstreamFailure, TimeoutError) as exc:
            kind = exc.kind if isinstance(exc, UpstreamFailure) else "timeout"
            attempt.error_type, attempt.ended_by = str(kind), EndedBy.ERROR
            self._warn("the judge's tier %s did not answer: %s", name, kind)
        status = attempt.status
        ok = status is not None and 200 <= status < 300 and raw is not None
        if status is not None and not ok:
            attempt.error_type = "rate_limit" if status == 429 else "server_error" if status >= 500 else "client_error"
            attempt.ended_by = EndedBy.ERROR
            self._warn("the judge's tier %s answered HTTP %s", name, status)
        attempt.latency_ms = (time.time() - started) * 1000
        record.ended_at = time.time()
        record.status = status if status is not None else 502
        record.outcome = Outcome.SUCCESS if ok else Outcome.FAILED
        self.meter(record, Completion(request=body, bodies=[raw if ok else None], streams=[None]))
        return answer_of(raw) if ok and raw is not None else None

    async def _send(self, tier: str, payload: bytes) -> tuple[int, bytes]:
        response = await self.pool.send(tier, "/chat/completions", payload)
        return response.status, await response.read()

    # -- small things --------------------------------------------------------------------------

    def _count(self, result: str) -> Callable[[], None]:
        return self.metrics.judge_tasks.labels(result).inc

    def _warn(self, message: str, *args: object) -> None:
        """At most once a minute: a broken judge must not flood the log."""
        now = time.monotonic()
        if now - self._logged_at >= 60:
            self._logged_at = now
            log.warning(message, *args)


def _value(member: Any) -> Any:
    """An enum member's value (a TaskRecord's outcome may be an Enum or a plain string)."""
    return getattr(member, "value", member)


def build_judge(config: Config, pool: Pool, meter: Meter, metrics: Metrics) -> TaskJudge | None:
    """The judge `config.tasks.judge` asks for, or None (the default: no judge, nothing kept, nothing spent)."""
    judge = config.tasks.judge if config.tasks.enabled else None
    if judge is None:
        return None
    return TaskJudge(judge, config.tiers[judge.tier], config.tasks.idle_s, pool, meter, metrics)
