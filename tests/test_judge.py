"""The optional judge (`tasks.judge`): which tasks it samples, the final exchange it keeps, how it grades,
what its calls cost and where that spend goes, its agreement with feedback — and nothing at all when off."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import Enum
from typing import Any

import fakeredis
import orjson
import pytest

from metering.completion import Completion
from metering.ledger import rollup_increments
from metering.pipeline import MeteringPipeline
from metering.record import JUDGE_LABEL, Attempt, Record
from metering.tax.report import build_report
from router.app import create_app
from router.config import Config
from router.judge import keeper as keeper_module
from router.judge.exchange import ANSWER_CHARS, TURN_CHARS, FinalExchange, final_exchange
from router.judge.grader import grade_of, judge_body
from router.judge.keeper import ExchangeKeeper
from router.judge.sampling import sampled
from router.judge.service import EXCHANGE_GRACE_S, TaskJudge, build_judge
from router.metering_settings import metering_settings
from router.sse import StreamState
from router.upstream import FailureKind, UpstreamFailure
from tests.in_process import InProcessStore

# -- sampling ---------------------------------------------------------------------------------------


def test_a_task_is_sampled_the_same_way_every_time_and_everywhere() -> None:
    ids = [f"task_{n:024x}" for n in range(2_000)]
    first = [sampled("key_a", task, 0.3) for task in ids]
    assert [sampled("key_a", task, 0.3) for task in ids] == first
    assert 0 < sum(first) < len(ids)
    # A fixed keyed hash, not Python's per-process `hash()`: these draws are the same in every worker, every
    # replica and every release (a change here would re-draw the sample of tasks already running).
    drawn = [sampled(None, f"t{n}", 0.5) for n in range(12)]
    assert drawn == [False, False, False, True, True, False, True, True, False, True, False, False]


def test_the_sampled_share_is_the_configured_share() -> None:
    ids = [f"task_{n:024x}" for n in range(40_000)]
    for share in (0.05, 0.1, 0.5):
        measured = sum(sampled("key_a", task, share) for task in ids) / len(ids)
        assert measured == pytest.approx(share, abs=0.01)
    assert all(sampled(None, task, 1.0) for task in ids[:100])


def test_a_sampled_task_stays_sampled_at_a_larger_share() -> None:
    ids = [f"t{n}" for n in range(5_000)]
    small = {task for task in ids if sampled(None, task, 0.1)}
    large = {task for task in ids if sampled(None, task, 0.3)}
    assert small <= large


def test_the_same_task_id_under_two_keys_is_drawn_apart() -> None:
    ids = [f"t{n}" for n in range(5_000)]
    a = [sampled("key_a", task, 0.5) for task in ids]
    b = [sampled("key_b", task, 0.5) for task in ids]
    assert 0.4 < sum(x != y for x, y in zip(a, b, strict=True)) / len(ids) < 0.6


# -- the final exchange -----------------------------------------------------------------------------


def step(api: str = "chat", task_step: int = 3) -> Record:
    return Record(request_id="req-1", api=api, task_id="task_1", task_step=task_step, key_id="key_a")


AGENT_HISTORY = [
    {"role": "system", "content": "You are a coding agent."},
    {"role": "user", "content": "Fix the failing test in parser.py"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "function": {"name": "run", "arguments": "{}"}}],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "1 failed: test_parse_empty"},
]


def test_a_chat_answer_keeps_the_task_its_last_tool_result_and_the_answer() -> None:
    answer = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": "I will patch it.",
                    "tool_calls": [{"id": "c2", "function": {"name": "edit", "arguments": '{"line": 3}'}}],
                }
            }
        ]
    }
    completion = Completion(request={"messages": AGENT_HISTORY}, bodies=[orjson.dumps(answer)], streams=[None])
    exchange = final_exchange(step(), completion)
    assert exchange.goal == "Fix the failing test in parser.py"
    assert exchange.turn == "[tool result] 1 failed: test_parse_empty"
    assert exchange.answer == 'I will patch it.\n[tool call] edit({"line": 3})'
    assert exchange.step == 3 and exchange.api == "chat"


def test_a_chat_stream_keeps_the_text_the_client_received() -> None:
    chunks = [{"choices": [{"delta": {"content": piece}}]} for piece in ("The test ", "passes now.")]
    state = StreamState(events=[b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks])
    request = {"messages": [{"role": "user", "content": [{"type": "text", "text": "Is it fixed?"}]}]}
    exchange = final_exchange(step(), Completion(request=request, bodies=[None], streams=[state]))
    assert exchange.turn == "Is it fixed?"
    assert exchange.answer == "The test passes now."


def test_a_responses_answer_keeps_the_function_output_and_the_output_text() -> None:
    request = {
        "input": [
            {"role": "user", "content": "Book a table for two"},
            {"type": "function_call", "call_id": "c1", "name": "search", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "Chez Nous: 19:00 free"},
        ]
    }
    answer = {
        "output": [
            {"type": "reasoning", "summary": []},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Booked 19:00."}]},
        ]
    }
    completion = Completion(request=request, bodies=[orjson.dumps(answer)], streams=[None])
    exchange = final_exchange(step("responses"), completion)
    assert exchange.goal == "Book a table for two"
    assert exchange.turn == "[tool result] Chez Nous: 19:00 free"
    assert exchange.answer == "Booked 19:00."


def test_a_responses_stream_keeps_the_completed_responses_output() -> None:
    completed = {
        "type": "response.completed",
        "response": {
            "output": [{"type": "function_call", "name": "pay", "arguments": '{"usd": 40}'}],
            "usage": {"input_tokens": 10, "output_tokens": 5},
        },
    }
    state = StreamState(usage_chunk=completed)
    request = {"input": "Pay the bill", "previous_response_id": "resp_1"}
    exchange = final_exchange(step("responses"), Completion(request=request, bodies=[None], streams=[state]))
    assert exchange.turn == "Pay the bill"
    assert exchange.answer == '[tool call] pay({"usd": 40})'
    assert "first stated" not in exchange.render()  # the turn is the whole input: not shown twice


def test_the_kept_exchange_is_bounded_whatever_the_request_and_answer() -> None:
    huge = "x" * 1_000_000
    request = {"messages": [{"role": "user", "content": huge}, {"role": "tool", "content": huge}]}
    answer = {"choices": [{"message": {"role": "assistant", "content": huge}}]}
    completion = Completion(request=request, bodies=[orjson.dumps(answer)], streams=[None])
    exchange = final_exchange(step(), completion)
    assert len(exchange.to_json()) < 12_000
    assert len(exchange.answer) < ANSWER_CHARS + 60 and len(exchange.turn) < 2 * TURN_CHARS
    assert "characters cut" in exchange.answer


# -- the judge's request and its answer -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "grade"),
    [
        ("SUCCESS", True),
        ("failure.", False),
        ("**SUCCESS**", True),
        ("<think>it could be a FAILURE, but the test passes</think>\nSUCCESS", True),
        ("SUCCESS, no FAILURE", None),
        ("The assistant did well.", None),
        ("", None),
        ("SUCCESSFUL", None),
    ],
)
def test_only_an_answer_saying_one_of_the_two_words_is_a_grade(text: str, grade: bool | None) -> None:
    assert grade_of(text) is grade


def test_the_judge_asks_for_a_small_answer_in_each_upstreams_terms() -> None:
    exchange = FinalExchange(api="chat", step=1, goal="g", turn="t", answer="a")
    openai = judge_body("gpt-5.4-nano", "Grade it.", exchange, "openai")
    assert openai["max_completion_tokens"] <= 256 and openai["reasoning_effort"] == "low"
    assert openai["messages"][0] == {"role": "system", "content": "Grade it."}
    vllm = judge_body("Qwen/Qwen3.5-9B", "Grade it.", exchange, "vllm")
    assert vllm["max_tokens"] <= 256 and "reasoning_effort" not in vllm


# -- keeping exchanges in the store -----------------------------------------------------------------


EXCHANGE = FinalExchange(api="chat", step=2, goal="goal", turn="turn", answer="answer")


async def test_an_exchange_is_kept_under_the_ledgers_tag_a_little_longer_than_a_task_idles() -> None:
    store = fakeredis.FakeAsyncRedis()
    keeper = ExchangeKeeper(ttl_s=300 + EXCHANGE_GRACE_S)
    keeper.start(store)
    keeper.keep("key_a", "task_1", EXCHANGE)
    await keeper.aclose()
    key = keeper.exchange_key("key_a", "task_1")
    assert "{ledger}" in key and "task_1" not in key  # a client's task id never becomes a key name
    assert 300 < await store.ttl(key) <= 300 + EXCHANGE_GRACE_S
    keeper.start(store)
    assert await keeper.take("key_a", "task_1") == EXCHANGE
    assert await keeper.take("key_a", "task_1") is None  # taken once: one grade per task, whoever closes it
    await keeper.aclose()


async def test_a_later_step_replaces_the_tasks_exchange() -> None:
    store = fakeredis.FakeAsyncRedis()
    keeper = ExchangeKeeper(ttl_s=600)
    keeper.start(store)
    keeper.keep(None, "task_1", EXCHANGE)
    await asyncio.sleep(0)
    later = FinalExchange(api="chat", step=3, goal="goal", turn="next", answer="done")
    keeper.keep(None, "task_1", later)
    assert await keeper.take(None, "task_1") == later
    await keeper.aclose()


async def test_past_the_pending_bound_exchanges_are_dropped_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keeper_module, "MAX_PENDING", 3)
    dropped: list[int] = []
    keeper = ExchangeKeeper(ttl_s=600, on_dropped=lambda: dropped.append(1))
    for n in range(5):
        keeper.keep(None, f"task_{n}", EXCHANGE)
    keeper.keep(None, "task_0", EXCHANGE)  # a task already waiting is still replaced
    assert len(dropped) == 2


# -- grading ----------------------------------------------------------------------------------------


class Outcome(Enum):  # how the task book may spell an outcome
    UNKNOWN = "unknown"


@dataclass
class ClosedTask:
    task_id: str
    key_id: str | None = "key_a"
    outcome: str | Outcome = "unknown"
    outcome_source: str | None = None


class FakeBook:
    """The task book's side of the contract (`metering.tasks.TaskBook`)."""

    def __init__(self) -> None:
        self.listeners: list[Any] = []
        self.judgements: list[tuple[str | None, str, bool, str | None]] = []

    def add_closed_listener(self, fn: Any) -> None:
        self.listeners.append(fn)

    def close(self, *tasks: ClosedTask) -> None:
        for listener in self.listeners:
            listener(list(tasks))

    async def record_judgement(self, key_id: str | None, task_id: str, success: bool, reason: str | None) -> None:
        self.judgements.append((key_id, task_id, success, reason))


class FakeResponse:
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self._body = status, body

    async def read(self) -> bytes:
        return self._body


class FakePool:
    """Answers the judge's calls with scripted texts (or failures), and remembers what it was asked."""

    def __init__(self, *answers: str | int | Exception) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    async def send(self, tier: str, path: str, payload: bytes) -> FakeResponse:
        self.sent.append((tier, path, orjson.loads(payload)))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, int):
            return FakeResponse(answer, b'{"error": {"message": "no", "type": "server_error"}}')
        body = {
            "model": "gpt-5.4-nano",
            "choices": [{"message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 400, "completion_tokens": 30},
        }
        return FakeResponse(200, orjson.dumps(body))


def judged_config(share: float = 1.0) -> Config:
    return Config.model_validate({"tasks": {"judge": {"tier": "nano", "share": share, "prompt": "Grade it."}}})


class Judged:
    """A started judge with a fake pool and task book, metering into a real pipeline on an in-process store."""

    def __init__(self, pool: FakePool, share: float = 1.0) -> None:
        config = judged_config(share)
        self.in_process = InProcessStore.open()
        self.store = self.in_process.redis
        self.metering = MeteringPipeline(metering_settings(config))
        self.pool = pool
        self.book = FakeBook()
        judge = build_judge(config, pool, self.metering, self.metering.metrics)
        assert judge is not None
        self.judge: TaskJudge = judge
        self.judge.attach(self.book)

    async def __aenter__(self) -> Judged:
        await self.metering.start(self.store, durable=False)
        await self.judge.start(self.store)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.judge.aclose()
        await self.metering.aclose()

    def step(self, task_id: str, key_id: str | None = "key_a") -> None:
        record = Record(request_id=f"req-{task_id}", task_id=task_id, key_id=key_id, task_step=2)
        answer = {"choices": [{"message": {"role": "assistant", "content": "All tests pass."}}]}
        request = {"messages": [{"role": "user", "content": "Make the tests pass"}]}
        self.judge.keep(record, Completion(request=request, bodies=[orjson.dumps(answer)], streams=[None]))

    def count(self, name: str, **labels: str) -> float:
        return self.metering.metrics.registry.get_sample_value(name, labels) or 0.0

    def judge_records(self) -> list[Record]:
        return [record for record in self.metering.recent if record.label == JUDGE_LABEL]


async def test_a_sampled_task_that_ended_without_a_word_is_graded_from_its_final_exchange() -> None:
    async with Judged(FakePool("FAILURE")) as judged:
        judged.step("task_1")
        judged.book.close(ClosedTask("task_1"))
        await judged.judge.drain()
    assert judged.book.judgements == [("key_a", "task_1", False, "judge nano: FAILURE")]
    (tier, path, body) = judged.pool.sent[0]
    assert (tier, path) == ("nano", "/chat/completions")
    assert body["messages"][0]["content"] == "Grade it."
    assert "Make the tests pass" in body["messages"][1]["content"]
    assert "All tests pass." in body["messages"][1]["content"]
    assert judged.count("routetax_judge_tasks_total", result="failure") == 1


async def test_tasks_with_feedback_or_a_detected_failure_are_not_judged() -> None:
    async with Judged(FakePool()) as judged:
        for task in ("task_1", "task_2"):
            judged.step(task)
        judged.book.close(
            ClosedTask("task_1", outcome="success", outcome_source="feedback"),
            ClosedTask("task_2", outcome="failure", outcome_source="detected"),
        )
        await judged.judge.drain()
    assert judged.pool.sent == [] and judged.book.judgements == []


async def test_tasks_outside_the_sample_keep_nothing_and_cost_nothing() -> None:
    ids = [f"task_{n}" for n in range(200)]
    async with Judged(FakePool(*["SUCCESS"] * 200), share=0.1) as judged:
        for task in ids:
            judged.step(task)
        judged.book.close(*(ClosedTask(task) for task in ids))
        await judged.judge.drain()
        kept = await judged.store.keys("*judge:exchange*")
    chosen = [task for task in ids if sampled("key_a", task, 0.1)]
    assert 0 < len(chosen) < 60
    assert len(judged.pool.sent) == len(chosen) and kept == []  # every kept exchange was taken by its grade
    assert sorted(task for _, task, _, _ in judged.book.judgements) == sorted(chosen)


async def test_a_judge_call_is_metered_as_the_judges_spend_outside_every_task() -> None:
    async with Judged(FakePool("SUCCESS")) as judged:
        judged.step("task_1")
        judged.book.close(ClosedTask("task_1"))
        await judged.judge.drain()
    (record,) = judged.judge_records()
    assert record.cost_usd > 0 and record.usage is not None and record.usage.prompt_tokens == 400
    assert not record.is_task and record.task_id is None and record.key_id is None  # charged to no key or task
    assert record.counterfactual_usd == {}
    assert judged.count("routetax_cost_usd_total", tier="nano", **{"class": "judge"}) == pytest.approx(record.cost_usd)
    assert judged.count("routetax_requests_total", tier="nano", outcome="success", api="chat", **{"class": "judge"})
    hour, _ = rollup_increments(record)
    assert dict(hour)["nano|judge|cost_usd"] == pytest.approx(record.cost_usd)  # a ledger line of its own
    measured = build_report([record])["measured"]
    assert measured["requests"] == 0 and measured["spend"]["actual"] == 0  # the report's tasks and policies: not it
    assert measured["spend"]["judge"] == pytest.approx(record.cost_usd)  # but the report shows what it cost


async def test_an_answer_that_is_no_grade_grades_nothing_but_its_spend_is_still_metered() -> None:
    async with Judged(FakePool("It is hard to say.")) as judged:
        judged.step("task_1")
        judged.book.close(ClosedTask("task_1"))
        await judged.judge.drain()
    assert judged.book.judgements == []
    assert judged.count("routetax_judge_tasks_total", result="ungraded") == 1
    assert len(judged.judge_records()) == 1


async def test_a_failing_judge_tier_leaves_the_task_ungraded() -> None:
    failures = (UpstreamFailure(FailureKind.CONNECT_ERROR, "refused"), 503)
    async with Judged(FakePool(*failures)) as judged:
        for task in ("task_1", "task_2"):
            judged.step(task)
        judged.book.close(ClosedTask("task_1"), ClosedTask("task_2"))
        await judged.judge.drain()
    assert judged.book.judgements == []
    assert judged.count("routetax_judge_tasks_total", result="call_failed") == 2
    assert sorted(record.status for record in judged.judge_records()) == [502, 503]
    assert all(record.cost_usd == 0 for record in judged.judge_records())


async def test_a_store_that_is_down_leaves_tasks_ungraded_and_the_judge_running() -> None:
    async with Judged(FakePool("SUCCESS", "FAILURE")) as judged:
        judged.step("task_1")
        await asyncio.sleep(0.01)  # written
        judged.in_process.down()
        judged.book.close(ClosedTask("task_1"))
        await judged.judge.drain()
        judged.in_process.up()
        judged.step("task_2")
        judged.book.close(ClosedTask("task_2", outcome=Outcome.UNKNOWN))  # an enum member reads the same
        await judged.judge.drain()
    assert judged.count("routetax_judge_tasks_total", result="no_exchange") == 1
    assert [task for _, task, _, _ in judged.book.judgements] == ["task_2"]


async def test_a_task_whose_exchange_expired_is_not_graded() -> None:
    async with Judged(FakePool()) as judged:
        judged.book.close(ClosedTask("task_1"))
        await judged.judge.drain()
    assert judged.pool.sent == []
    assert judged.count("routetax_judge_tasks_total", result="no_exchange") == 1


async def test_feedback_after_the_judges_grade_is_counted_as_agreement_or_not() -> None:
    async with Judged(FakePool("SUCCESS", "SUCCESS")) as judged:
        for task in ("task_1", "task_2"):
            judged.step(task)
        judged.book.close(ClosedTask("task_1"), ClosedTask("task_2"))
        await judged.judge.drain()
        await judged.judge.feedback("key_a", "task_1", True)
        await judged.judge.feedback("key_a", "task_2", False)
        await judged.judge.feedback("key_a", "task_2", True)  # a change of mind is not a second comparison
    assert judged.count("routetax_judge_agreement_total", agree="true") == 1
    assert judged.count("routetax_judge_agreement_total", agree="false") == 1


async def test_a_grade_after_the_feedback_is_counted_too() -> None:
    async with Judged(FakePool("FAILURE")) as judged:
        judged.step("task_1")
        await judged.judge.feedback("key_a", "task_1", False)  # arrived while the task was being closed
        judged.book.close(ClosedTask("task_1"))
        await judged.judge.drain()
    assert judged.count("routetax_judge_agreement_total", agree="true") == 1


async def test_feedback_on_a_task_outside_the_sample_touches_nothing() -> None:
    async with Judged(FakePool(), share=0.01) as judged:
        task = next(f"t{n}" for n in range(1000) if not sampled("key_a", f"t{n}", 0.01))
        await judged.judge.feedback("key_a", task, True)
        assert await judged.store.keys("*judge*") == []


# -- off by default -------------------------------------------------------------------------------


def test_without_a_judge_configured_there_is_no_judge_stage() -> None:
    served = create_app(Config())
    assert served.app.state.judge is None  # type: ignore[attr-defined]
    assert served.app.state.metering.router_stages.final_exchange is None  # type: ignore[attr-defined]
    assert build_judge(Config(), FakePool(), lambda record, completion: None, None) is None  # type: ignore[arg-type]


def test_with_a_judge_configured_the_pipeline_keeps_final_exchanges() -> None:
    served = create_app(judged_config())
    judge = served.app.state.judge  # type: ignore[attr-defined]
    assert isinstance(judge, TaskJudge)
    assert served.app.state.metering.router_stages.final_exchange == judge.keep  # type: ignore[attr-defined]


def test_a_judge_record_reads_back_from_the_ledger_as_the_judges() -> None:
    record = Record(request_id="judge_1", label=JUDGE_LABEL, attempts=[Attempt(tier="nano", model="m")])
    again = Record.from_dict(orjson.loads(orjson.dumps(record.to_dict())))
    assert again.is_judge and not again.is_task
