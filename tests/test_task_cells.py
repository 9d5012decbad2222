"""The report per task: cells of tasks, policies on their own tasks, the cheapest named (docs/routing-tax.md)."""

from __future__ import annotations

import io
import math
import statistics
from collections.abc import AsyncIterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from metering.ledger import Ledger
from metering.record import Attempt, Record, Usage
from metering.store import Store, open_in_process_store
from metering.tasks import OutcomeSource, TaskBook, TaskOutcome, TaskRecord, TaskSettings
from metering.tax import Assumptions, build_report
from metering.tax.intervals import wilson
from metering.tax.policies_by_task import add_task_figures
from metering.tax.report_text import print_report

T0 = 1_700_000_000.0
A = Assumptions(tiers=("nano", "mini", "qwen"))
_count = iter(range(1_000_000))


def task(
    arm: str,
    label: str,
    cost: float,
    outcome: str = "unknown",
    source: OutcomeSource | None = None,
    *,
    steps: int = 1,
    explored: bool = False,
    pinned: bool = False,
) -> TaskRecord:
    """A closed task record: its arm, class, cost, and who said how it ended."""
    n = next(_count)
    return TaskRecord(
        task_id=f"t{n}",
        task_class=label,
        arm=arm,
        explored=explored,
        pinned=pinned,
        steps=steps,
        requests=steps,
        attempts=steps,
        tiers=[arm],
        cost_usd=cost,
        started_at=T0 + n,
        ended_at=T0 + n + 1,
        outcome=TaskOutcome(outcome),
        outcome_source=source,
    )


FB, JUDGE, DET = OutcomeSource.FEEDBACK, OutcomeSource.JUDGE, OutcomeSource.DETECTED


def request_of(t: TaskRecord, usage: Usage | None = None, **fields: Any) -> Record:
    """The one request behind a one-step task: its arm's attempt at the task's cost."""
    attempt = Attempt(tier=t.arm or "", model=t.arm or "", cost_usd=t.cost_usd, billed=True, usage=usage)
    return Record(
        request_id=f"r{t.task_id}",
        label=t.task_class,
        task_id=t.task_id,
        task_class=t.task_class,
        routed_tier=t.arm,
        attempts=[attempt],
        usage=usage,
        started_at=t.started_at,
        ended_at=t.ended_at,
        **fields,
    )


def report_of(
    closed: list[TaskRecord],
    open_: list[TaskRecord] = (),  # type: ignore[assignment]
    records: list[Record] = (),  # type: ignore[assignment]
    sample: bool = False,
    a: Assumptions = A,
) -> dict[str, Any]:
    report = build_report(list(records), {}, a)
    return add_task_figures(report, list(records), closed, list(open_), a, sample)


def cell(report: dict[str, Any], tier: str, label: str) -> dict[str, Any]:
    return next(c for c in report["measured"]["tasks"]["cells"] if c["tier"] == tier and c["class"] == label)


def many(arm: str, label: str, cost: float, successes: int, failures: int, **kw: Any) -> list[TaskRecord]:
    return [task(arm, label, cost, "success", FB, **kw) for _ in range(successes)] + [
        task(arm, label, cost, "failure", FB, **kw) for _ in range(failures)
    ]


# -- cells -----------------------------------------------------------------------------------------------


def test_a_cell_of_tasks_recomputed_by_hand() -> None:
    closed = [
        task("mini", "agentic", 0.010, "success", FB, steps=4),
        task("mini", "agentic", 0.020, "failure", FB, steps=6),
        task("mini", "agentic", 0.030, "success", JUDGE, steps=5),
        task("mini", "agentic", 0.040, "failure", DET, steps=3),
        task("mini", "agentic", 0.050, steps=2),  # unknown
    ]
    got = cell(report_of(closed), "mini", "agentic")
    costs = [0.010, 0.020, 0.030, 0.040, 0.050]
    assert got["tasks"] == 5 and got["steps_per_task"] == 4.0
    assert got["cost_per_task_usd"] == pytest.approx(0.030)
    assert got["cost_per_task_spread_usd"]["sd"] == pytest.approx(statistics.stdev(costs))
    assert got["outcomes"] == {
        "feedback": {"success": 1, "failure": 1},
        "detected": {"failure": 1},
        "judge": {"success": 1, "failure": 0},
        "unknown": 1,
    }
    # the rate among judged tasks (feedback, judge): 2 of 3; coverage 3 of 5
    assert got["judged_tasks"] == 3 and got["coverage"] == pytest.approx(0.6)
    assert got["success_rate"] == pytest.approx(2 / 3)
    assert got["success_ci"] == pytest.approx(list(wilson(2, 3)))
    # bounds over all 5: the unknown a failure (2/5), then a success (3/5); the detected failure always a failure
    assert got["success_bounds"] == pytest.approx([2 / 5, 3 / 5])
    assert got["cost_per_completed_task_usd"] == pytest.approx(0.030 / (2 / 3))
    assert got["cost_per_completed_task_bounds"] == pytest.approx([0.030 / (3 / 5), 0.030 / (2 / 5)])


def test_unknown_outcomes_are_never_successes() -> None:
    report = report_of([task("nano", "single_turn", 0.001) for _ in range(4)])
    got = cell(report, "nano", "single_turn")
    assert got["success_rate"] is None and got["cost_per_completed_task_usd"] is None
    assert got["success_bounds"] == [0.0, 1.0]  # only the bounds' upper end counts them as successes
    assert report["assumptions"]["unknown_task_outcomes_count_as_success"] is False
    nano = report["measured"]["tasks"]["policies"]["nano_only"]
    assert nano["cost_per_completed_task_usd"] is None and nano["unjudged_cells"] == ["nano/single_turn"]


def test_open_tasks_count_with_what_is_known_of_them() -> None:
    open_ = [task("nano", "single_turn", 0.002), task("nano", "single_turn", 0.004, "success", FB)]
    got = cell(report_of([task("nano", "single_turn", 0.003, "failure", FB)], open_), "nano", "single_turn")
    assert got["tasks"] == 3 and got["open_tasks"] == 2
    assert got["outcomes"]["unknown"] == 1 and got["success_rate"] == pytest.approx(0.5)


def test_a_cell_with_no_tasks_says_not_measured_and_a_policy_needing_it_is_only_an_estimate() -> None:
    closed = many("nano", "single_turn", 0.001, 6, 4) + many("nano", "agentic", 0.004, 3, 7)
    # the requests behind them, repriced at mini (what the estimate reads)
    records = [request_of(t, counterfactual_usd={"nano": t.cost_usd, "mini": t.cost_usd * 4}) for t in closed]
    report = report_of(closed, records=records)
    assert cell(report, "mini", "agentic")["status"] == "not measured"
    assert cell(report, "mini", "agentic")["cost_per_task_usd"] is None
    mini = report["measured"]["tasks"]["policies"]["mini_only"]
    assert mini["measured"] is False and mini["cost_per_completed_task_usd"] is None
    assert mini["missing_cells"] == ["mini/single_turn", "mini/agentic"]
    estimate = mini["estimate"]
    assert estimate["repriced_cells"] == ["mini/single_turn", "mini/agentic"] and "estimate" in estimate["why"]
    # (10 × 0.004 + 10 × 0.016) ÷ (10 × 0.544 + 10 × 0.721): tokens repriced, published rates
    assert estimate["cost_per_completed_task_usd"] == pytest.approx(0.2 / (10 * 0.544 + 10 * 0.721))
    assert "mini_only" in report["verdict"]["not_measured"]
    out = io.StringIO()
    with redirect_stdout(out):
        print_report(report)
    text = out.getvalue()
    assert "mini  agentic" in text and "not measured" in text and "estimate (repriced, not measured)" in text


# -- policies and the verdict ----------------------------------------------------------------------------


def nano_cheapest_world() -> list[TaskRecord]:
    """Nano fails agentic work more often but costs a tenth: per completed task it is still cheapest."""
    return [
        *many("nano", "single_turn", 0.0001, 150, 50),
        *many("nano", "agentic", 0.0005, 80, 120, explored=True),
        *many("mini", "single_turn", 0.0010, 160, 40, explored=True),
        *many("mini", "agentic", 0.0040, 150, 50),
        *many("qwen", "single_turn", 0.0030, 100, 100, explored=True),
        *many("qwen", "agentic", 0.0090, 100, 100, explored=True),
    ]


def test_policies_are_costed_on_their_own_tasks_recomputed_by_hand() -> None:
    report = report_of(nano_cheapest_world())
    policies = report["measured"]["tasks"]["policies"]
    mix = {"single_turn": 600, "agentic": 600}  # every task of the window, explored or not
    assert report["measured"]["tasks"]["by_class"] == mix
    nano = (600 * 0.0001 + 600 * 0.0005) / (600 * 0.75 + 600 * 0.40)
    mini = (600 * 0.0010 + 600 * 0.0040) / (600 * 0.80 + 600 * 0.75)
    # dual as run: the routed tasks only (nano single-turn, mini agentic)
    dual = (600 * 0.0001 + 600 * 0.0040) / (600 * 0.75 + 600 * 0.75)
    assert policies["nano_only"]["cost_per_completed_task_usd"] == pytest.approx(nano)
    assert policies["mini_only"]["cost_per_completed_task_usd"] == pytest.approx(mini)
    assert policies["dual"]["cost_per_completed_task_usd"] == pytest.approx(dual)
    lo, hi = wilson(150, 200), wilson(80, 200)
    assert policies["nano_only"]["ci"] == pytest.approx(
        [(600 * 0.0006) / (600 * lo[1] + 600 * hi[1]), (600 * 0.0006) / (600 * lo[0] + 600 * hi[0])]
    )


def test_a_world_where_nano_only_is_cheapest_per_completed_task_says_so() -> None:
    report = report_of(nano_cheapest_world())
    verdict = report["verdict"]
    assert verdict["cheapest"] == "nano_only"
    assert verdict["dual_vs_mini"] == "dual_tier_pays"
    out = io.StringIO()
    with redirect_stdout(out):
        print_report(report)
    first = out.getvalue().splitlines()[0]
    assert first.startswith("Cheapest per completed task: nano-only at $")
    assert "dual-tier pays against mini-only" in first


def test_dual_as_run_carries_infrastructure_and_classifier_and_single_tier_policies_do_not() -> None:
    closed = nano_cheapest_world()
    a = Assumptions(tiers=("nano", "mini", "qwen"), router_hour_usd=0.8, hours=1.0)
    policies = report_of(closed, a=a)["measured"]["tasks"]["policies"]
    fixed = 0.8 / 1200  # the window's router hour over its 1,200 tasks
    assert policies["dual"]["fixed_per_task_usd"] == pytest.approx(fixed)
    dual = (600 * (0.0001 + fixed) + 600 * (0.0040 + fixed)) / (600 * 0.75 + 600 * 0.75)
    assert policies["dual"]["cost_per_completed_task_usd"] == pytest.approx(dual)
    nano = (600 * 0.0001 + 600 * 0.0005) / (600 * 0.75 + 600 * 0.40)
    assert policies["nano_only"]["cost_per_completed_task_usd"] == pytest.approx(nano)


def test_overlapping_intervals_leave_it_undecided_and_name_the_cell_that_would_decide_it() -> None:
    closed = [
        *many("nano", "single_turn", 0.0010, 30, 10),
        *many("nano", "agentic", 0.0010, 2, 2, explored=True),  # few tasks: a wide interval
        *many("mini", "single_turn", 0.0012, 32, 8, explored=True),
        *many("mini", "agentic", 0.0020, 30, 10),
    ]
    verdict = report_of(closed, a=Assumptions(tiers=("nano", "mini")))["verdict"]
    assert verdict["cheapest"] == "undecided"
    needs = verdict["cheapest_needs"]
    assert needs["cell"] == "nano/agentic"
    assert needs["more_judged"] > 0 and needs["more_tasks"] >= needs["more_judged"]
    assert "nano/agentic" in needs["decide_by"]
    assert "nano/agentic" in verdict["bottom_line"] and verdict["bottom_line"].startswith("Cheapest per completed task")


def test_unknowns_keep_it_undecided_unless_judged_tasks_are_a_sample() -> None:
    closed = [
        *many("nano", "single_turn", 0.001, 900, 100),
        *many("nano", "agentic", 0.001, 450, 50, explored=True),
        *[task("nano", "agentic", 0.001, explored=True) for _ in range(1500)],  # nobody said how these ended
        *many("mini", "single_turn", 0.002, 900, 100, explored=True),
        *many("mini", "agentic", 0.002, 900, 100),
    ]
    a = Assumptions(tiers=("nano", "mini"))
    verdict = report_of(closed, a=a)["verdict"]
    # judged, nano-only is cheapest by far; with the unknowns all failures it is dearer than dual as run
    assert verdict["cheapest_point"] == "nano_only" and verdict["cheapest"] == "undecided"
    needs = verdict["cheapest_needs"]
    assert needs["cell"] == "nano/agentic" and needs["more_judged"] == 1500
    assert "outcomes_are_a_sample" in needs["decide_by"]
    assert report_of(closed, a=a, sample=True)["verdict"]["cheapest"] == "nano_only"


def test_no_task_records_leave_the_verdict_undecided_and_say_why() -> None:
    report = report_of([])
    assert report["measured"]["tasks"]["tasks"] == 0
    assert report["verdict"]["cheapest"] == "undecided"
    assert "none in this window" in report["verdict"]["cheapest_needs"]["decide_by"]


def test_self_hosted_policies_show_the_marginal_view_beside_the_amortised_one() -> None:
    usage = Usage(prompt_tokens=900, completion_tokens=100)
    closed = [
        *many("nano", "single_turn", 0.0001, 3, 1),
        *many("qwen", "single_turn", 0.0, 2, 2, explored=True),
        *many("qwen", "agentic", 0.0, 2, 2, explored=True),
        *many("mini", "agentic", 0.0040, 3, 1),
    ]
    records = [request_of(t, usage=usage) for t in closed]
    a = Assumptions(tiers=("nano", "mini", "qwen"), gpu_hour_usd={"qwen": 2.0}, hours=1.0)
    qwen = report_of(closed, records=records, a=a)["measured"]["tasks"]["policies"]["qwen_only"]
    # 8 qwen tasks of 1,000 tokens share the hour's $2: $0.25 each; half succeed
    assert qwen["cost_per_completed_task_usd"] == pytest.approx(0.5)
    assert qwen["marginal_cost_per_completed_task_usd"] == pytest.approx(0.0)


# -- open tasks read from the ledger ---------------------------------------------------------------------


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    store = open_in_process_store()
    yield store
    await store.aclose()


def step(n: int, task_id: str, calls: str | None = None) -> Record:
    usage = Usage(prompt_tokens=100, completion_tokens=10)
    return Record(
        request_id=f"{task_id}-{n}",
        started_at=T0 + 10 * n,
        ended_at=T0 + 10 * n + 1,
        routed_tier="mini",
        attempts=[Attempt(tier="mini", model="gpt-mini", usage=usage, cost_usd=0.01, billed=True)],
        usage=usage,
        cost_usd=0.01,
        task_id=task_id,
        task_step=n,
        task_class="agentic",
        answer_calls=calls,
    )


async def test_an_open_task_mid_loop_is_read_as_unknown_not_abandoned(store: Store, tmp_path: Path) -> None:
    ledger = Ledger(store, str(tmp_path / "spool"), task_idle_s=300.0)
    await ledger.start()
    for record in (step(1, "loop", "c1"), step(2, "loop", "c2"), step(1, "other")):
        ledger.submit(record)
    assert await ledger.drain()
    await ledger.aclose()
    book = TaskBook(store, TaskSettings(idle_s=300.0))
    await book.feedback(None, "other", True, None)
    tasks = {t.task_id: t for t in await book.read_open(T0, T0 + 3600, now=T0 + 30)}
    assert tasks["loop"].steps == 2 and tasks["loop"].cost_usd == pytest.approx(0.02)
    assert tasks["loop"].outcome is TaskOutcome.UNKNOWN and tasks["loop"].detected_reason is None
    assert tasks["other"].outcome is TaskOutcome.SUCCESS and tasks["other"].outcome_source is OutcomeSource.FEEDBACK
    assert await book.read_open(T0 + 3600, T0 + 7200, now=T0 + 30) == []  # started before the window
    assert math.isclose(sum(t.cost_usd for t in tasks.values()), 0.03)
