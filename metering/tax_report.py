"""The routing-tax report: the published model next to what the traffic measured.

Every measured figure is computed from ledger records with the definitions of
cost-model.md §3; nothing is copied from the model. Where a figure cannot be measured
from the window (no request of that kind), it is None and the report says so, rather
than filling it with the published number.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from metering import tax_model
from metering.record import Record

CLASSES = ("single_turn", "agentic")


@dataclass(frozen=True)
class Assumptions:
    """Inputs the traffic cannot tell: the router's own running cost, printed as an assumption."""

    router_hour_usd: float = 0.0
    hours: float = 0.0  # the window's length; infrastructure is charged for the part the traffic spans
    classifier_usd_per_request: float = 0.0


def served_ok(record: Record) -> bool:
    """The record's own half of `succeeded`: 2xx and a final attempt that was not degraded.

    Metrics count ideal spend with this when the record finishes (feedback arrives later and is
    withdrawn then), so it must stay the same test the report applies.
    """
    return record.outcome == "success" and record.status < 400


def succeeded(record: Record, feedback: Mapping[str, bool]) -> bool:
    """2xx, final attempt not degraded, and no feedback saying the task failed."""
    return served_ok(record) and feedback.get(record.request_id, True)


def ideal_usd(record: Record) -> float:
    """What this record adds to ideal spend before any feedback: its final attempt's cost, when served ok."""
    return record.attempts[-1].cost_usd if served_ok(record) and record.attempts else 0.0


def _billed(record: Record) -> float:
    return sum(a.cost_usd for a in record.attempts if a.billed)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def build_report(
    records: Iterable[Record], feedback: Mapping[str, bool] | None = None, assumptions: Assumptions | None = None
) -> dict[str, Any]:
    feedback = feedback or {}
    assumptions = assumptions or Assumptions()
    records = list(records)
    n = len(records)
    by_class = defaultdict(int)
    routed = defaultdict(lambda: defaultdict(int))  # tier -> class -> requests first routed there
    wins = defaultdict(lambda: defaultdict(int))  # tier -> class -> successes among those
    spend_by_tier = defaultdict(float)
    successes_by_tier = defaultdict(int)
    class_spend = defaultdict(float)
    class_successes = defaultdict(int)
    class_mini = defaultdict(float)
    counterfactual = defaultdict(float)
    parts = {
        "redo": 0.0,
        "retry": 0.0,
        "unsuccessful": 0.0,
        "cache_loss": 0.0,
        "infrastructure": 0.0,
        "classifier": 0.0,
    }
    attempts_spend = ideal = 0.0
    overheads = []
    for record in records:
        label = record.label
        by_class[label] += 1
        ok = succeeded(record, feedback)
        first = record.routed_tier or (record.attempts[0].tier if record.attempts else None)
        if first is not None:
            routed[first][label] += 1
            wins[first][label] += ok
        billed = _billed(record)
        attempts_spend += billed
        class_spend[label] += billed
        class_successes[label] += ok
        for attempt in record.attempts:
            if attempt.billed:
                spend_by_tier[attempt.tier] += attempt.cost_usd
        final = record.attempts[-1] if record.attempts else None
        if ok and final is not None:
            ideal += final.cost_usd
            successes_by_tier[final.tier] += 1
        for attempt in record.attempts[:-1]:
            if attempt.billed:
                parts["redo" if attempt.ended_by == "redo" else "retry"] += attempt.cost_usd
        if not ok and final is not None and final.billed:
            parts["unsuccessful"] += final.cost_usd
        parts["cache_loss"] += record.cache_loss_usd
        for baseline, cost in record.counterfactual_usd.items():
            counterfactual[baseline] += cost
        class_mini[label] += record.counterfactual_usd.get("mini", 0.0)
        overheads.append(record.proxy_overhead_ms)
    parts["infrastructure"] = assumptions.router_hour_usd * _served_hours(records, assumptions.hours)
    parts["classifier"] = assumptions.classifier_usd_per_request * n
    actual = attempts_spend + parts["infrastructure"] + parts["classifier"]
    # cache-loss spend is already inside the attempts' billed cost: it is a part of the overhead, not extra
    overhead = actual / ideal - 1 if ideal else None
    agentic_share = by_class["agentic"] / n if n else None
    success_rate = {
        tier: {label: (wins[tier][label] / count if count else None) for label, count in classes.items()}
        for tier, classes in routed.items()
    }
    mini_only = counterfactual.get("mini")
    savings = 1 - actual / mini_only if mini_only else None
    break_even = _break_even(class_spend, class_successes, class_mini, success_rate, by_class, parts, n)
    dual_pays = bool(mini_only) and actual < mini_only
    measured = {
        "requests": n,
        "agentic_share": agentic_share,
        "success_rate": success_rate,
        "spend": {"actual": actual, "ideal": ideal, "counterfactual": dict(counterfactual)},
        "routing_overhead": overhead,
        "overhead_parts": {k: (_ratio(v, ideal) if ideal else None) for k, v in parts.items()},
        "overhead_parts_usd": parts,
        "savings_vs_mini": savings,
        "cost_per_completed_task": {t: _ratio(spend_by_tier[t], successes_by_tier[t]) for t in spend_by_tier},
        "break_even_agentic_share": break_even,
        **_trend(records, break_even),
        "latency_overhead_ms": {
            "p50": statistics.median(overheads) if overheads else None,
            "p99": sorted(overheads)[max(0, int(len(overheads) * 0.99) - 1)] if overheads else None,
        },
    }
    model = {
        "routing_overhead": [tax_model.OVERHEAD_LOW, tax_model.OVERHEAD_HIGH],
        "break_even_agentic_share": tax_model.break_even_agentic_share(),
        "success_rate": {
            "nano": {"agentic": tax_model.SUCCESS_AGENTIC["nano"]},
            "mini": {"agentic": tax_model.SUCCESS_AGENTIC["mini"]},
        },
    }
    return {
        "measured": measured,
        "model": model,
        "assumptions": {
            "router_hour_usd": assumptions.router_hour_usd,
            "hours": assumptions.hours,
            "classifier_usd_per_request": assumptions.classifier_usd_per_request,
        },
        "verdict": {"dual_tier_pays": dual_pays, "text": _verdict_text(measured, dual_pays, model)},
    }


TREND_MIN_SPAN_S = 6 * 3600  # the least traffic span the agentic-share trend is extrapolated from


def _trend(records: list[Record], break_even: float | None) -> dict[str, float | None]:
    """The agentic share's trend (least squares over time buckets) and the weeks until it crosses break-even.

    Buckets are 1/8 of the records' span, so a day of traffic gives 3-hour points and a week
    gives daily ones; fewer than three non-empty buckets is no trend, and neither is a span under
    TREND_MIN_SPAN_S: a weekly slope read off minutes of traffic is noise multiplied by thousands.
    """
    out: dict[str, float | None] = {"agentic_share_trend_per_week": None, "weeks_to_break_even": None}
    if len(records) < 3:
        return out
    first = min(r.started_at for r in records)
    span = max(r.started_at for r in records) - first
    if span < TREND_MIN_SPAN_S:
        return out
    buckets: dict[int, list[float]] = defaultdict(lambda: [0, 0, 0.0])  # requests, agentic, sum of times
    for record in records:
        cell = buckets[min(int((record.started_at - first) / span * 8), 7)]
        cell[0] += 1
        cell[1] += record.label == "agentic"
        cell[2] += record.started_at - first
    points = [(total_t / n, agentic / n) for _i, (n, agentic, total_t) in sorted(buckets.items())]
    if len(points) < 3:
        return out
    mean_t = statistics.fmean(t for t, _ in points)
    mean_s = statistics.fmean(s for _, s in points)
    variance = sum((t - mean_t) ** 2 for t, _ in points)
    slope_per_s = sum((t - mean_t) * (s - mean_s) for t, s in points) / variance
    per_week = slope_per_s * 7 * 86400
    out["agentic_share_trend_per_week"] = per_week
    current = points[-1][1]
    if break_even is not None and per_week > 0 and current < break_even:
        out["weeks_to_break_even"] = (break_even - current) / per_week
    return out


def _served_hours(records: list[Record], window_hours: float) -> float:
    """Hours the router was seen serving in the window: the traffic's span, at most the window.

    A report over a quiet week should not charge a week of router time to one hour of traffic
    (nor should a three-second demo be charged an hour).
    """
    if not records:
        return 0.0
    first = min(r.started_at for r in records)
    last = max(r.ended_at or r.started_at for r in records)
    span = max(last - first, 0.0) / 3600
    return min(span, window_hours) if window_hours else span


def _break_even(
    class_spend: Mapping[str, float],
    class_successes: Mapping[str, int],
    class_mini: Mapping[str, float],
    success_rate: Mapping[str, Mapping[str, float | None]],
    by_class: Mapping[str, int],
    parts: Mapping[str, float],
    n: int,
) -> float | None:
    """The agentic share s at which dual-tier cost per completed task equals mini-only's.

    Per class: dual = its billed spend (plus its share of infrastructure and classifier) per
    success; mini-only = its counterfactual mini spend per request ÷ mini's measured success
    rate on that class (the dual-tier rate where mini was never tried on it). Both lines are
    linear in s; the crossing is the break-even. None when a class was not seen.
    """
    fixed_per_request = (parts["infrastructure"] + parts["classifier"]) / n if n else 0.0
    dual, mini = {}, {}
    for label in CLASSES:
        count = by_class.get(label, 0)
        if not count or not class_successes.get(label):
            return None
        dual[label] = (class_spend[label] + fixed_per_request * count) / class_successes[label]
        rate = (success_rate.get("mini") or {}).get(label) or class_successes[label] / count
        mini[label] = class_mini[label] / count / rate
    gap_single, gap_agentic = mini["single_turn"] - dual["single_turn"], mini["agentic"] - dual["agentic"]
    if gap_single == gap_agentic:
        return None
    share = gap_single / (gap_single - gap_agentic)
    return min(max(share, 0.0), 1.0)


def _verdict_text(measured: Mapping[str, Any], dual_pays: bool, model: Mapping[str, Any]) -> str:
    if not measured["requests"]:
        return "No traffic in this window: nothing to judge."
    share, overhead = measured["agentic_share"], measured["routing_overhead"]
    savings = measured["savings_vs_mini"]
    parts = [f"agentic share {share:.0%}"]
    if overhead is not None:
        parts.append(
            f"measured routing overhead {overhead:.1%} (model {model['routing_overhead'][0]:.0%}–"
            f"{model['routing_overhead'][1]:.0%})"
        )
    if savings is not None:
        parts.append(f"{abs(savings):.0%} {'below' if savings >= 0 else 'above'} mini-only spend")
    head = "Dual-tier routing pays" if dual_pays else "Dual-tier routing costs more than sending everything to mini"
    return f"{head}: " + ", ".join(parts) + "."
