"""One bottom line, first: the policy to deploy, what it saves a month with its range, against what, and what would
flip it; the other verdicts are context (issue 30 item 5, first half)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import main as routetax
from tests.test_audit import agentic_chat, audit, chat, completion, write_jsonl

ROWS = [
    *({"request": chat(f"Q{i}"), "response": completion(1200, 300, cached=400)} for i in range(60)),
    *({"request": agentic_chat(f"T{i}"), "response": completion(3000, 60, cached=2000)} for i in range(40)),
]


def test_the_bottom_line_is_the_decision_with_its_range_and_flip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, r = audit(capsys, str(write_jsonl(tmp_path / "p.jsonl", ROWS)), "--calls-per-month", "1000000")
    assert code == 0
    line = r["bottom_line"]
    corrected = r["success_corrected"]
    assert line["deploy"] == corrected["cheapest_per_completed_task"] == "nano_only"
    assert line["against"] == "mini_only"
    assert line["low"] <= line["saves_usd_month"] <= line["high"]
    per_task = corrected["cost_per_completed_task_usd"]
    completed_by_mini = corrected["completed_tasks_per_month"]["mini_only"]
    assert line["saves_usd_month"] == pytest.approx((per_task["mini_only"] - per_task["nano_only"]) * completed_by_mini)
    assert line["text"].startswith(f"Deploy nano_only: saves ${line['saves_usd_month']:,.2f} a month [")
    fix = corrected["nano_loses_if_fixing_a_failure_costs_more_than_usd"]
    assert any(f"${fix:.4f}" in condition for condition in line["flips_if"])


def test_the_sensitivity_table_has_every_cell_and_says_whether_the_verdict_survives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, r = audit(capsys, str(write_jsonl(tmp_path / "p.jsonl", ROWS)), "--calls-per-month", "1000000")
    cells = r["sensitivity"]
    assert [(c["output_scale"], c["cache_share"]) for c in cells] == [
        (scale, cache) for scale in (0.5, 1.0, 2.0) for cache in (0.0, "logged", 0.9)
    ]
    as_logged = next(c for c in cells if c["output_scale"] == 1.0 and c["cache_share"] == "logged")
    assert as_logged["savings_usd_month"] == pytest.approx(r["bottom_line"]["saves_usd_month"])
    by = {(c["output_scale"], c["cache_share"]): c["savings_usd_month"] for c in cells}
    assert by[(0.5, "logged")] < by[(1.0, "logged")] < by[(2.0, "logged")]  # longer answers, more to save
    assert by[(1.0, 0.0)] > by[(1.0, "logged")] > by[(1.0, 0.9)]  # more caching, less to save
    assert r["verdict_survives"] is all(c["verdict_survives"] for c in cells)
    low, high = r["bottom_line"]["low"], r["bottom_line"]["high"]
    assert all(low <= c["savings_usd_month"] <= high for c in cells)


def test_the_text_opens_with_the_bottom_line_and_labels_the_other_verdicts_context(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert routetax(["audit", str(write_jsonl(tmp_path / "p.jsonl", ROWS))]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Deploy nano_only: saves $")
    context = out.index("context (not the decision):")
    assert context < out.index("verdict               mini") and context < out.index("by the calculator")
    assert "sensitivity" in out and "survives every cell" in out


def test_the_flip_share_is_found_where_another_policy_becomes_cheaper() -> None:
    from metering.tax.audit_decision import Priced, _flip_share

    requests = {"single_turn": 70, "agentic": 30}

    def priced_at(_output: float, _cache: float | None, class_scale: dict[str, float]) -> dict[str, Priced]:
        share = class_scale["agentic"] * 30 / 100
        return {"mini_only": Priced(100.0, 100.0), "dual": Priced(100.0 * (0.7 + share), 100.0)}  # dual > 1 above 0.3

    assert _flip_share(priced_at, requests, "mini_only", "dual") == pytest.approx((0.3, "mini_only"), abs=0.001)
