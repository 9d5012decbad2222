"""Hourly costs follow the window asked for, not the span its traffic covers (docs/routing-tax.md, the window).

The router and a self-hosted GPU are paid by the hour whether requests come or not. A report over the last
hour charges one hour of each; over the last day, 24. Charging only the span between the first and the last
request made two late requests move the routing overhead from 3% to 99% and made every window read alike.
The recording rule `routetax:routing_overhead:1h` is the report over the last hour, so in a fleet's first
minute both charge the whole hour.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from metering.record import Attempt, EndedBy, Record, Usage
from metering.tax import Assumptions, build_report
from router.report import ReportWindow, WindowError, report_window

ROOT = Path(__file__).resolve().parents[1]
NOW = 1_800_000_000.0  # the moment the report is asked for
ROUTER_HOUR_USD = 0.05
GPU_HOUR_USD = 1.0


def step(i: int, tier: str, label: str, at: float, *, retry_usd: float = 0.0, usd: float = 0.0005) -> Record:
    """One request `at` seconds before NOW; qwen's tokens are 0 per token, its GPU is charged by the hour."""
    usage = Usage(prompt_tokens=800, completion_tokens=200)
    cost = 0.0 if tier == "qwen" else usd
    attempts = [Attempt(tier=tier, model=tier, cost_usd=retry_usd, billed=True, ended_by=EndedBy.RETRY, usage=usage)]
    attempts = attempts if retry_usd else []
    attempts.append(Attempt(tier=tier, model=tier, cost_usd=cost, billed=True, ended_by=EndedBy.OK, usage=usage))
    return Record(
        request_id=f"r{i}",
        label=label,
        routed_tier=tier,
        explored=tier == "qwen",
        attempts=attempts,
        tier_path=[tier],
        outcome="success",
        status=200,
        counterfactual_usd={"mini": 0.002, "nano": 0.0005, "qwen": 0.0},
        usage=usage,
        started_at=NOW - at,
        ended_at=NOW - at + 0.5,
    )


def minute_of_traffic() -> list[Record]:
    """Twenty requests in the window's last minute: nano and mini answer, qwen's arm is explored."""
    tiers = ("nano", "mini", "qwen")
    return [
        step(i, tiers[i % 3], "agentic" if i % 2 else "single_turn", 60 - i, retry_usd=0.0002 if i % 5 == 0 else 0.0)
        for i in range(20)
    ]


def report(records: list[Record], window: ReportWindow) -> dict:
    inside = [r for r in records if window.since <= r.started_at < window.until]
    assumptions = Assumptions(router_hour_usd=ROUTER_HOUR_USD, hours=window.hours, gpu_hour_usd={"qwen": GPU_HOUR_USD})
    return build_report(inside, assumptions=assumptions)


def last(name: str) -> ReportWindow:
    return report_window(name, None, None, NOW)


def test_a_report_over_an_hour_with_one_minute_of_traffic_charges_one_hour_of_router_cost() -> None:
    measured = report(minute_of_traffic(), last("1h"))["measured"]
    assert measured["overhead_parts_usd"]["infrastructure"] == pytest.approx(ROUTER_HOUR_USD)
    assert measured["self_hosted"]["qwen"]["gpu_hours"] == 1.0
    assert measured["spend"]["amortised_self_hosted"] == pytest.approx(GPU_HOUR_USD)


def test_two_requests_thirty_seconds_later_do_not_move_the_hourly_charges() -> None:
    """The issue's case: the overhead went from 3.07% to 99.5% and qwen-only x36 when the span grew."""
    first = minute_of_traffic()
    burst = [r for r in first if r.started_at >= NOW - 48]  # the minute's last eight seconds: a short span
    later = [*burst, step(90, "nano", "single_turn", 15), step(91, "qwen", "agentic", 14)]
    window = last("1h")
    before, after = report(burst, window)["measured"], report(later, window)["measured"]
    assert after["overhead_parts_usd"]["infrastructure"] == before["overhead_parts_usd"]["infrastructure"]
    # the two requests carry no overhead of their own: they only dilute it by their share of base
    added_base = after["spend"]["base"] - before["spend"]["base"]
    assert after["routing_overhead"] == pytest.approx(
        before["routing_overhead"] * before["spend"]["base"] / (before["spend"]["base"] + added_base)
    )
    # the GPU costs the same hour; one more qwen request shares it, so qwen-only gets cheaper, never dearer
    assert after["spend"]["amortised_self_hosted"] == pytest.approx(before["spend"]["amortised_self_hosted"])
    assert after["spend"]["amortised_self_hosted"] == pytest.approx(GPU_HOUR_USD)
    qwen_before = before["policies"]["qwen_only"]["cost_per_completed_task_usd"]
    assert after["policies"]["qwen_only"]["cost_per_completed_task_usd"] < qwen_before


def test_a_day_window_charges_a_day_of_router_and_gpu_hours() -> None:
    records = minute_of_traffic()
    hour, day = report(records, last("1h"))["measured"], report(records, last("24h"))["measured"]
    assert day["overhead_parts_usd"]["infrastructure"] == pytest.approx(
        24 * hour["overhead_parts_usd"]["infrastructure"]
    )
    assert day["spend"]["amortised_self_hosted"] == pytest.approx(24 * hour["spend"]["amortised_self_hosted"])
    assert day["routing_overhead"] > hour["routing_overhead"]
    assert (
        day["policies"]["qwen_only"]["cost_per_completed_task_usd"]
        > hour["policies"]["qwen_only"]["cost_per_completed_task_usd"]
    )
    # the GPU-free policies price tokens, not hours: the window does not touch them
    assert day["policies"]["mini_only"] == hour["policies"]["mini_only"]


def first_minute_case() -> tuple[dict[str, float], float]:
    """recording_test.yml's first-minute case: each series' value at one minute, and the rule's expected value."""
    tests = yaml.safe_load((ROOT / "deploy" / "prometheus" / "recording_test.yml").read_text())["tests"]
    case = next(t for t in tests if t["name"].startswith("the first minute"))
    (check,) = case["promql_expr_test"]
    assert check["expr"].startswith("round(routetax:routing_overhead:1h") and check["eval_time"] == "1m"
    totals: dict[str, float] = {}
    for series in case["input_series"]:
        name = series["series"].split("{")[0]
        if re.search(r'class="(embedding|judge)"', series["series"]):
            continue  # not steps of a task: the report leaves them out, as the rule does
        value = float(series["values"].split()[-1])
        # router_hour_usd is the deployment's figure, exported by every replica: max(); counters add up
        totals[name] = (
            max(totals.get(name, 0.0), value) if name.endswith("_hour_usd") else totals.get(name, 0.0) + value
        )
    return totals, check["exp_samples"][0]["value"]


def test_the_recording_rule_and_the_report_agree_in_the_first_minute() -> None:
    """The series promtool feeds the rule, replayed as ledger records: the report over the last hour says the same."""
    totals, rule_says = first_minute_case()
    n = int(totals["routetax_requests_total"])
    spend, base = totals["routetax_cost_usd_total"], totals["routetax_base_cost_usd_total"]
    records = [step(i, "mini", "agentic", 59 - i, retry_usd=(spend - base) / n, usd=base / n) for i in range(n)]
    window = last("1h")
    assumptions = Assumptions(
        router_hour_usd=totals["routetax_router_hour_usd"],
        hours=window.hours,
        classifier_usd_per_request=totals["routetax_classifier_cost_usd_total"] / n,
    )
    measured = build_report(records, assumptions=assumptions)["measured"]
    assert round(measured["routing_overhead"], 3) == pytest.approx(rule_says)


def test_the_window_is_read_one_way_for_the_endpoint_and_the_command() -> None:
    assert last("1h") == ReportWindow(NOW - 3600, NOW)
    assert report_window("24h", "2h", "1h", NOW) == ReportWindow(NOW - 7200, NOW - 3600)  # since/until win
    assert report_window("1h", str(NOW - 30), None, NOW).hours == pytest.approx(30 / 3600)  # the demo's run
    with pytest.raises(WindowError) as empty:
        report_window("1h", "1h", "2h", NOW)
    assert empty.value.param == "since"
    with pytest.raises(WindowError) as unknown:
        report_window("2h", None, None, NOW)
    assert unknown.value.param == "window"
