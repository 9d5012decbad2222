"""The routing-tax report recomputed by hand from a handful of records."""

from __future__ import annotations

import pytest

from metering.record import Attempt, Record
from metering.tax_report import Assumptions, build_report


def rec(
    rid: str,
    label: str,
    attempts: list[tuple[str, float, str]],
    *,
    outcome: str = "success",
    mini: float = 0.0,
    nano: float = 0.0,
    routed: str | None = None,
    overhead_ms: float = 1.0,
) -> Record:
    return Record(
        request_id=rid,
        label=label,
        routed_tier=routed or attempts[0][0],
        attempts=[Attempt(tier=t, model=t, cost_usd=c, billed=c > 0, ended_by=e) for t, c, e in attempts],
        tier_path=[a[0] for a in attempts],
        outcome=outcome,
        status=200 if outcome != "failed" else 500,
        counterfactual_usd={"mini": mini, "nano": nano},
        proxy_overhead_ms=overhead_ms,
        started_at=1_000_000.0 + ord(rid[0]),
        ended_at=1_000_000.0 + ord(rid[0]) + 1,
    )


RECORDS = [
    rec("a", "single_turn", [("nano", 0.001, "ok")], mini=0.004, nano=0.001),
    rec("b", "single_turn", [("nano", 0.001, "ok")], mini=0.004, nano=0.001),
    rec("c", "agentic", [("nano", 0.002, "redo"), ("mini", 0.006, "ok")], mini=0.006, nano=0.002, routed="nano"),
    rec("d", "agentic", [("mini", 0.006, "ok")], mini=0.006, nano=0.002),
    rec("e", "agentic", [("mini", 0.0, "retry"), ("mini", 0.006, "ok")], mini=0.006, nano=0.002),
]


def test_spend_overhead_and_savings_recomputed_by_hand() -> None:
    # the records span 5 seconds of a 0.1 h window: the router's cost is charged for those 5 seconds only
    report = build_report(RECORDS, feedback={"d": False}, assumptions=Assumptions(router_hour_usd=0.72, hours=0.1))
    measured = report["measured"]
    actual = 0.001 + 0.001 + 0.002 + 0.006 + 0.006 + 0.006 + 0.001  # attempts + infrastructure
    ideal = 0.001 + 0.001 + 0.006 + 0.006  # successful requests' final attempts ("d" failed by feedback)
    assert measured["spend"]["actual"] == pytest.approx(actual)
    assert measured["spend"]["ideal"] == pytest.approx(ideal)
    assert measured["routing_overhead"] == pytest.approx(actual / ideal - 1)
    parts = measured["overhead_parts_usd"]
    assert parts["redo"] == pytest.approx(0.002) and parts["unsuccessful"] == pytest.approx(0.006)
    assert parts["infrastructure"] == pytest.approx(0.001) and parts["retry"] == 0
    assert sum(parts.values()) == pytest.approx(actual - ideal)
    assert measured["savings_vs_mini"] == pytest.approx(1 - actual / 0.026)
    assert measured["agentic_share"] == pytest.approx(0.6)
    assert report["verdict"]["dual_tier_pays"] is True


def test_success_rate_is_per_first_routed_tier_and_class() -> None:
    rates = build_report(RECORDS, feedback={"d": False})["measured"]["success_rate"]
    assert rates["nano"] == {"single_turn": 1.0, "agentic": 1.0}  # "c" was first routed to nano, then redone
    assert rates["mini"] == {"agentic": 0.5}


def test_cost_per_completed_task_per_tier() -> None:
    per_task = build_report(RECORDS)["measured"]["cost_per_completed_task"]
    assert per_task["nano"] == pytest.approx(0.004 / 2)  # nano spend includes the redone attempt
    assert per_task["mini"] == pytest.approx(0.018 / 3)


def test_break_even_falls_between_zero_and_one_when_single_turn_saves_and_agentic_costs() -> None:
    share = build_report(RECORDS)["measured"]["break_even_agentic_share"]
    assert share is not None and 0 < share < 1


def test_dual_tier_does_not_pay_when_spend_exceeds_mini_only() -> None:
    costly = [rec("x", "agentic", [("nano", 0.01, "redo"), ("mini", 0.006, "ok")], mini=0.006)]
    report = build_report(costly)
    assert report["verdict"]["dual_tier_pays"] is False
    assert "costs more" in report["verdict"]["text"]


def test_empty_window_marks_everything_unmeasured() -> None:
    report = build_report([])
    assert report["measured"]["routing_overhead"] is None and report["measured"]["agentic_share"] is None
    assert report["verdict"]["dual_tier_pays"] is False


def test_no_weekly_trend_is_extrapolated_from_minutes_of_traffic() -> None:
    """A demo's few seconds of rising agentic share once read as '+193707 per week, crossing in 0.0 weeks'."""
    records = []
    for i in range(60):  # ten minutes, agentic share rising from 0 to 1
        label = "agentic" if i >= 30 else "single_turn"
        r = rec(f"m-{i}", label, [("mini" if label == "agentic" else "nano", 0.001, "ok")], mini=0.002, nano=0.001)
        r.started_at = r.ended_at = i * 10.0
        records.append(r)
    measured = build_report(records)["measured"]
    assert measured["agentic_share_trend_per_week"] is None and measured["weeks_to_break_even"] is None


def test_weeks_to_break_even_follow_the_share_trend() -> None:
    day = 86400.0
    trend = []
    for d in range(8):  # agentic share grows from 0.2 by 0.05 a day over a week
        share = 0.2 + 0.05 * d
        for i in range(20):
            label = "agentic" if i < round(share * 20) else "single_turn"
            r = rec(
                f"{d}-{i}", label, [("mini" if label == "agentic" else "nano", 0.001, "ok")], mini=0.002, nano=0.001
            )
            r.started_at = r.ended_at = d * day + i
            trend.append(r)
    measured = build_report(trend)["measured"]
    assert measured["agentic_share_trend_per_week"] == pytest.approx(0.35, rel=0.05)
    if measured["break_even_agentic_share"] is not None and measured["break_even_agentic_share"] > 0.55:
        expected = (measured["break_even_agentic_share"] - 0.55) / measured["agentic_share_trend_per_week"]
        assert measured["weeks_to_break_even"] == pytest.approx(expected)
