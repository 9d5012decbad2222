"""Exploration as a measurement line per task: dollars against routing the same tasks, and completions forgone."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from typing import Any

import pytest

from metering.tax import Assumptions
from metering.tax.report_text import print_report
from tests.test_task_cells import many, report_of


def exploration(report: dict[str, Any]) -> dict[str, Any]:
    return report["measured"]["tasks"]["measurement"]["exploration"]


def text_of(report: dict[str, Any]) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        print_report(report)
    return out.getvalue()


def world() -> list:
    """Routing: single-turn to nano, agentic to mini. Exploration: agentic on nano (cheaper, fails more), single-turn
    on mini (dearer, succeeds a little more)."""
    return [
        *many("nano", "single_turn", 0.0001, 60, 40),
        *many("mini", "agentic", 0.0040, 75, 25),
        *many("nano", "agentic", 0.0010, 4, 6, explored=True),
        *many("mini", "single_turn", 0.0005, 7, 3, explored=True),
    ]


def test_exploration_is_priced_against_the_cells_routing_would_have_used() -> None:
    line = exploration(report_of(world()))
    by_cell = {(e["arm"], e["class"]): e for e in line["by_cell"]}
    nano = by_cell[("nano", "agentic")]
    assert nano["routed_cell"] == "mini/agentic"
    assert nano["usd"] == pytest.approx(10 * (0.0010 - 0.0040))  # against mini's agentic cost per task
    assert nano["completions_forgone"] == pytest.approx(10 * (0.75 - 0.4))
    mini = by_cell[("mini", "single_turn")]
    assert mini["routed_cell"] == "nano/single_turn"
    assert mini["usd"] == pytest.approx(10 * (0.0005 - 0.0001))
    assert mini["completions_forgone"] == pytest.approx(10 * (0.6 - 0.7))
    assert line["tasks"] == 20
    assert line["usd"] == pytest.approx(10 * (0.0010 - 0.0040) + 10 * (0.0005 - 0.0001))
    assert line["completions_forgone"] == pytest.approx(3.5 - 1.0)
    # cheaper in dollars, paid in completions: the report says both
    assert line["cheaper_than_routing"] is True
    text = text_of(report_of(world()))
    assert "−$0.026000 against routing the same 20 tasks (exploring cost less" in text
    assert "2.50 expected completions forgone" in text


def test_the_routers_own_running_cost_is_in_neither_side() -> None:
    """Explored tasks ride the same router and classifier as routed ones: charging them would only move the line."""
    a = Assumptions(tiers=("nano", "mini", "qwen"), router_hour_usd=5.0, hours=1.0, classifier_usd_per_request=0.01)
    assert exploration(report_of(world(), a=a))["usd"] == pytest.approx(exploration(report_of(world()))["usd"])


def test_routing_is_the_configured_tier_of_each_class() -> None:
    a = Assumptions(tiers=("nano", "mini", "qwen"), agentic_tier="nano")  # routing sends agentic work to nano
    closed = [*many("nano", "agentic", 0.0010, 4, 6), *many("mini", "agentic", 0.0040, 7, 3, explored=True)]
    line = exploration(report_of(closed, a=a))
    assert line["by_cell"][0]["routed_cell"] == "nano/agentic"
    assert line["usd"] == pytest.approx(10 * 0.0030) and line["cheaper_than_routing"] is False
    assert line["completions_forgone"] == pytest.approx(10 * (0.4 - 0.7))
    assert "3.00 expected completions gained" in text_of(report_of(closed, a=a))


def test_no_routed_cell_to_compare_with_says_not_measured() -> None:
    closed = [*many("nano", "single_turn", 0.0001, 6, 4), *many("nano", "agentic", 0.0010, 4, 6, explored=True)]
    report = report_of(closed)
    line = exploration(report)
    assert line["usd"] is None and line["completions_forgone"] is None and line["cheaper_than_routing"] is None
    assert line["not_measured"] == ["mini/agentic"] and line["unjudged_cells"] == ["mini/agentic"]
    assert "not measured (mini/agentic has no tasks to compare with)" in text_of(report)


def test_no_exploration_is_zero_and_the_judge_stands_beside_it() -> None:
    report = report_of([*many("nano", "single_turn", 0.0001, 6, 4)])
    measurement = report["measured"]["tasks"]["measurement"]
    assert measurement["exploration"]["tasks"] == 0 and measurement["exploration"]["usd"] == 0.0
    assert measurement["judge_usd"] == 0.0
    text = text_of(report)
    assert "no explored tasks in this window" in text and "judge         $0.000000 grading outcomes" in text
