"""report.failure_remedy: what a failed task costs to put right, in the policies per completed task."""

from __future__ import annotations

from pathlib import Path

import pytest

from metering.tax import Assumptions
from metering.tax.break_even import crossing
from router.config import ConfigError, load_config
from router.report import assumptions_for
from tests.test_measurement_spend import text_of
from tests.test_task_cells import many, report_of

TIERS = ("nano", "mini", "qwen")
FULL = Assumptions(tiers=TIERS, failure_redo_on="full")


def world() -> list:
    """Routed nano single-turn and mini agentic; explored mini single-turn and nano agentic; full measured too."""
    return [
        *many("nano", "single_turn", 0.0002, 52, 48),
        *many("mini", "single_turn", 0.0010, 54, 46, explored=True),
        *many("nano", "agentic", 0.0015, 39, 61, explored=True),
        *many("mini", "agentic", 0.0040, 72, 28),
        *many("full", "single_turn", 0.0030, 6, 4, explored=True),
        *many("full", "agentic", 0.0200, 8, 2, explored=True),
    ]


REDO = {"single_turn": (0.0030, 0.6), "agentic": (0.0200, 0.8)}  # full's cells: cost per task, success rate
MIX = {"single_turn": 210, "agentic": 210}


def redone(lines: dict[str, tuple[float, float]]) -> float:
    """The source analysis's arithmetic: each failure redone on full at full's cost per task, completing at its rate."""
    spent = sum(MIX[c] * (cost + (1 - rate) * REDO[c][0]) for c, (cost, rate) in lines.items())
    completed = sum(MIX[c] * (rate + (1 - rate) * REDO[c][1]) for c, (_, rate) in lines.items())
    return spent / completed


def test_by_default_there_is_no_remedy_and_the_report_says_so() -> None:
    report = report_of(world())
    remedy = report["measured"]["tasks"]["failure_remedy"]
    assert remedy["kind"] == "none" and remedy["redo_on"] is None
    assert "failure remedy: none: a failed task adds no cost and is not redone" in text_of(report)


def test_redo_on_full_follows_the_source_analysis_arithmetic() -> None:
    report = report_of(world(), a=FULL)
    policies = report["measured"]["tasks"]["policies"]
    nano = {"single_turn": (0.0002, 0.52), "agentic": (0.0015, 0.39)}
    mini = {"single_turn": (0.0010, 0.54), "agentic": (0.0040, 0.72)}
    dual = {"single_turn": (0.0002, 0.52), "agentic": (0.0040, 0.72)}
    assert policies["nano_only"]["cost_per_completed_task_usd"] == pytest.approx(redone(nano))
    assert policies["mini_only"]["cost_per_completed_task_usd"] == pytest.approx(redone(mini))
    assert policies["dual"]["cost_per_completed_task_usd"] == pytest.approx(redone(dual))
    lo, hi = policies["nano_only"]["ci"]
    assert lo < redone(nano) < hi
    remedy = report["measured"]["tasks"]["failure_remedy"]
    assert remedy["kind"] == "redo_on" and remedy["redo_cells"]["agentic"]["cell"] == "full/agentic"
    assert "a failed task is redone on full at its measured cost per task and success rate" in text_of(report)
    # the break-even share puts failures right the same way
    fix = {c: (cost + (1 - r) * REDO[c][0], r + (1 - r) * REDO[c][1]) for c, (cost, r) in dual.items()}
    fix_mini = {c: (cost + (1 - r) * REDO[c][0], r + (1 - r) * REDO[c][1]) for c, (cost, r) in mini.items()}
    assert report["measured"]["tasks"]["break_even"]["share"] == pytest.approx(crossing(fix, fix_mini), abs=1e-9)


def test_a_redo_tier_with_no_tasks_leaves_every_policy_not_measured_naming_its_cell() -> None:
    closed = [t for t in world() if t.arm != "full"]
    report = report_of(closed, a=FULL)
    policies = report["measured"]["tasks"]["policies"]
    assert policies["mini_only"]["measured"] is False and "full/agentic" in policies["mini_only"]["missing_cells"]
    assert policies["dual"]["cost_per_completed_task_usd"] is None
    assert report["measured"]["tasks"]["break_even"]["share"] is None
    assert (
        "(full/single_turn not measured, full/agentic not measured)"
        in report["measured"]["tasks"]["failure_remedy"]["text"]
    )


MINIMAL = "tiers:\n  nano: {model: gpt-5.4-nano}\n  mini: {model: gpt-5.4-mini}\n  full: {model: gpt-5.4}\n"


def configured(tmp_path: Path, report: str) -> Assumptions:
    path = tmp_path / "routetax.yaml"
    path.write_text(MINIMAL + report)
    return assumptions_for(load_config(path, environ={}))


def test_the_configuration_names_one_remedy(tmp_path: Path) -> None:
    assert configured(tmp_path, "report: {failure_remedy: {redo_on: full}}\n").failure_redo_on == "full"
    usd = configured(tmp_path, "report: {failure_remedy: {usd: 0.019}}\n")
    assert usd.failure_cost_usd == 0.019 and usd.failure_redo_on is None
    none = configured(tmp_path, "")
    assert none.failure_cost_usd == 0.0 and none.failure_redo_on is None
    for bad, said in (
        ("report: {failure_remedy: {redo_on: qwen}}\n", "report.failure_remedy.redo_on: tier 'qwen' is not configured"),
        ("report: {failure_remedy: {usd: 1, redo_on: full}}\n", "exactly one of usd"),
        ("report: {failure_remedy: {}}\n", "exactly one of usd"),
        ("report: {failure_cost_usd: 0.019, failure_remedy: {usd: 0.02}}\n", "failure_cost_usd already prices"),
    ):
        with pytest.raises(ConfigError, match=said.replace("(", r"\(")):
            configured(tmp_path, bad)
