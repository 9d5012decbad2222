"""From a Tally to the audit's answer: token mix, projected monthly cost per policy, verdict.

Pure functions. Prices are the published ones from litellm's map, applied with the
modifiers each logged request showed (Batch, the reported service tier), through
`metering.cost.cost`. The routing overhead band, the success rates and the break-even
share are the published model's (`metering.tax.model`); every number that rests on an
assumption rather than the logs says so in `assumptions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from metering.audit.scan import AGENTIC, DAY_S, SINGLE_TURN, Tally
from metering.cost import cost
from metering.prices import Price, price_for
from metering.record import Usage
from metering.tax import model as tax_model

NANO_MODEL, MINI_MODEL = "gpt-5.4-nano", "gpt-5.4-mini"
HOURS_PER_MONTH = 730.0  # 365 × 24 / 12
DAYS_PER_MONTH = 365 / 12
MIN_SPAN_S = 3600.0  # a shorter log is not extrapolated to a month from its own rate
MIN_TREND_DAYS = 3
LABELS = (SINGLE_TURN, AGENTIC)


@dataclass(frozen=True)
class Assumptions:
    calls_per_month: int | None = None
    gpu_hour_usd: float | None = None
    gpus: int = 1
    output_tokens: int = 1000  # per request, where no answer of that class was logged at all


def success_rate(tier: str, label: str) -> float:
    """The published success rate of a tier on a class (OSWorld agentic, SWE-Bench Pro single-turn)."""
    rates = tax_model.SUCCESS_AGENTIC if label == AGENTIC else tax_model.SUCCESS_SINGLE_TURN
    return rates[tier]


def token_mix(tally: Tally, output_tokens: int) -> tuple[dict[tuple[str, str], Usage], dict[str, dict[str, Any]]]:
    """Token sums per class × pricing mode, estimates filled in, and the per-class summary."""
    mix: dict[tuple[str, str], Usage] = {}
    summary: dict[str, dict[str, Any]] = {}
    for label in LABELS:
        buckets = {mode: b for (lab, mode), b in tally.buckets.items() if lab == label}
        logged = sum(b.logged for b in buckets.values())
        logged_completion = sum(b.completion for b in buckets.values())
        per_request = logged_completion / logged if logged else float(output_tokens)
        filled_from = "logged mean of this class" if logged else "assumption (--output-tokens)"
        totals = Usage()
        estimated = 0
        for mode, b in buckets.items():
            completion = b.completion + round(b.estimated * per_request)
            usage = Usage(b.prompt + b.estimated_prompt, b.cached, completion, b.reasoning)
            mix[(label, mode)] = usage
            totals.prompt_tokens += usage.prompt_tokens
            totals.cached_tokens += usage.cached_tokens
            totals.completion_tokens += usage.completion_tokens
            totals.reasoning_tokens += usage.reasoning_tokens
            estimated += b.estimated
        requests = sum(b.requests for b in buckets.values())
        known = tally.cached_known[label]
        summary[label] = {
            "requests": requests,
            "prompt_tokens": totals.prompt_tokens,
            "cached_tokens": totals.cached_tokens,
            "completion_tokens": totals.completion_tokens,
            "reasoning_tokens": totals.reasoning_tokens,
            "per_request": {
                "prompt": totals.prompt_tokens / requests if requests else None,
                "completion": totals.completion_tokens / requests if requests else None,
            },
            "logged_requests": logged,
            "estimated_requests": estimated,
            "estimated": estimated > 0,
            "estimate": None
            if not estimated
            else {
                "prompt": "o200k_base tokenizer (sampled lines counted, the rest scaled by size)",
                "completion_per_request": per_request,
                "completion_from": filled_from,
            },
            "cached_share": tally.cached_of_known[label] / known if known else None,
            "requests_by_mode": {mode: b.requests for mode, b in buckets.items()},
        }
    return mix, summary


def monthly_requests(tally: Tally, calls_per_month: int | None) -> tuple[float, str, str]:
    """How many requests a month the projection is for, and why."""
    if calls_per_month is not None:
        return float(calls_per_month), "calls_per_month", f"{calls_per_month:,} calls/month (--calls-per-month)"
    span = (tally.ts_max - tally.ts_min) if tally.ts_min is not None and tally.ts_max is not None else 0.0
    if tally.requests and tally.timed == tally.requests and span >= MIN_SPAN_S:
        rate = tally.requests / span * DAYS_PER_MONTH * DAY_S
        return rate, "observed_rate", f"{rate:,.0f} calls/month at the logs' own rate ({_span_text(span)} of logs)"
    return (
        float(tally.requests),
        "log_as_one_month",
        f"the {tally.requests:,} logged requests taken as one month (no --calls-per-month, "
        "and the lines carry no usable time span)",
    )


def _span_text(seconds: float) -> str:
    return f"{seconds / DAY_S:.1f} days" if seconds >= DAY_S else f"{seconds / 3600:.1f} hours"


def _spend(mix: dict[tuple[str, str], Usage], price: Price, label: str) -> float:
    total = 0.0
    for (lab, mode), usage in mix.items():
        if lab != label:
            continue
        tier = mode if mode in ("flex", "priority") else None
        total += cost(usage, price, batch=mode == "batch", service_tier=tier).total_usd
    return total


def project(tally: Tally, assumptions: Assumptions) -> dict[str, Any]:
    """Everything the audit reports, as JSON-ready data."""
    mix, tokens = token_mix(tally, assumptions.output_tokens)
    monthly, basis, basis_text = monthly_requests(tally, assumptions.calls_per_month)
    scale = monthly / tally.requests if tally.requests else 0.0
    nano, mini = price_for(NANO_MODEL), price_for(MINI_MODEL)
    spend = {  # logged window, USD
        (tier, label): _spend(mix, price, label) for tier, price in (("nano", nano), ("mini", mini)) for label in LABELS
    }
    requests = {label: tokens[label]["requests"] for label in LABELS}
    monthly_by_label = {label: requests[label] * scale for label in LABELS}
    low, mid, high = tax_model.OVERHEAD_LOW, tax_model.OVERHEAD_MID, tax_model.OVERHEAD_HIGH
    nano_only = scale * (spend["nano", SINGLE_TURN] + spend["nano", AGENTIC])
    mini_only = scale * (spend["mini", SINGLE_TURN] + spend["mini", AGENTIC])
    dual_tokens = scale * (spend["nano", SINGLE_TURN] + spend["mini", AGENTIC])
    qwen_marginal = scale * spend["nano", SINGLE_TURN] * (1 + mid)
    gpu_monthly = (
        assumptions.gpus * HOURS_PER_MONTH * assumptions.gpu_hour_usd if assumptions.gpu_hour_usd is not None else None
    )
    agentic_tokens = scale * (tokens[AGENTIC]["prompt_tokens"] + tokens[AGENTIC]["completion_tokens"])
    projected = {
        "nano_only": nano_only,
        "mini_only": mini_only,
        "dual": dual_tokens * (1 + mid),
        "dual_low": dual_tokens * (1 + low),
        "dual_high": dual_tokens * (1 + high),
        "agentic_to_qwen": qwen_marginal,
        "agentic_to_qwen_amortised": None if gpu_monthly is None else qwen_marginal + gpu_monthly,
    }
    share = tally.agentic / tally.requests if tally.requests else 0.0
    corrected = _success_corrected(projected, monthly_by_label)
    break_even = tax_model.break_even_agentic_share(mid)
    per_request = {key: value / requests[key[1]] if requests[key[1]] else None for key, value in spend.items()}
    logs_break_even = _logs_break_even(per_request, mid)
    corrected_break_even = _corrected_break_even(per_request, mid)
    trend = _trend(tally, break_even)
    verdict = tax_model.verdict_for_share(share)
    calculator = "dual_tier_pays" if share < break_even else "mini_only_cheaper"
    result: dict[str, Any] = {
        "requests": tally.requests,
        "lines": tally.lines,
        "skipped": tally.skipped_total,
        "skipped_reasons": dict(tally.skipped.most_common()),
        "unreadable_files": list(tally.unreadable),
        "apis": dict(tally.apis.most_common()),
        "formats": dict(tally.formats.most_common()),
        "models": dict(tally.models.most_common(10)),
        "agentic_share": share,
        "grep_agentic_share": tally.grep / tally.requests if tally.requests else 0.0,
        "classifier": {
            "reasons": dict(tally.reasons.most_common()),
            "below_confidence_0_6": tally.uncertain,
        },
        "time_range": _time_range(tally),
        "per_day": _per_day(tally),
        "trend": trend,
        "tokens": tokens,
        "cached_share": _cached_share(tally),
        "monthly_requests": monthly,
        "monthly_basis": basis,
        "monthly_basis_text": basis_text,
        "projected_monthly_usd": projected,
        "savings_vs_mini": {
            key: (1 - projected[key] / mini_only) if mini_only and projected[key] is not None else None
            for key in ("nano_only", "dual", "dual_low", "dual_high", "agentic_to_qwen", "agentic_to_qwen_amortised")
        },
        "qwen": {
            "gpu_hour_usd": assumptions.gpu_hour_usd,
            "gpus": assumptions.gpus,
            "gpu_monthly_usd": gpu_monthly,
            "agentic_tokens_per_month": agentic_tokens,
            "tokens_per_second_needed": agentic_tokens / (HOURS_PER_MONTH * 3600),
        },
        "success_corrected": corrected,
        "break_even_agentic_share": break_even,
        "break_even_band": [tax_model.break_even_agentic_share(high), tax_model.break_even_agentic_share(low)],
        "break_even_logs_priced": logs_break_even,
        "break_even_success_corrected": corrected_break_even,
        "verdict": verdict,
        "calculator_verdict": calculator,
        "logged_spend_usd": tally.logged_spend_usd if tally.logged_spend_requests else None,
        "unmatched_batch_inputs": tally.unmatched_batch_inputs,
    }
    result["what_would_change_it"] = _what_would_change_it(result)
    result["assumptions"] = _assumptions(result, assumptions)
    return result


def _success_corrected(projected: dict[str, float | None], monthly_by_label: dict[str, float]) -> dict[str, Any]:
    """Cost per completed task at the published success rates (benchmarks, not these logs' tasks)."""
    tiers = {
        "nano_only": {SINGLE_TURN: "nano", AGENTIC: "nano"},
        "mini_only": {SINGLE_TURN: "mini", AGENTIC: "mini"},
        "dual": {SINGLE_TURN: "nano", AGENTIC: "mini"},
    }
    per_task: dict[str, float | None] = {}
    completed: dict[str, float] = {}
    for policy, route in tiers.items():
        done = sum(monthly_by_label[label] * success_rate(route[label], label) for label in LABELS)
        completed[policy] = done
        value = projected[policy]
        per_task[policy] = value / done if done and value is not None else None
    per_task["agentic_to_qwen"] = None
    extra_failures_nano = sum(
        monthly_by_label[label] * (success_rate("mini", label) - success_rate("nano", label)) for label in LABELS
    )
    extra_failures_dual = monthly_by_label[SINGLE_TURN] * (
        success_rate("mini", SINGLE_TURN) - success_rate("nano", SINGLE_TURN)
    )
    mini, nano, dual = projected["mini_only"] or 0.0, projected["nano_only"] or 0.0, projected["dual"] or 0.0
    ranked = sorted((v, k) for k, v in per_task.items() if v is not None)
    return {
        "cost_per_completed_task_usd": per_task,
        "completed_tasks_per_month": completed,
        "cheapest_per_completed_task": ranked[0][1] if ranked else None,
        "extra_failures_per_month_nano_vs_mini": extra_failures_nano,
        "nano_loses_if_fixing_a_failure_costs_more_than_usd": (mini - nano) / extra_failures_nano
        if extra_failures_nano
        else None,
        "dual_loses_if_fixing_a_failure_costs_more_than_usd": (mini - dual) / extra_failures_dual
        if extra_failures_dual and mini > dual
        else None,
        "rates": {
            "agentic": dict(tax_model.SUCCESS_AGENTIC),
            "single_turn": dict(tax_model.SUCCESS_SINGLE_TURN),
            "qwen": None,
        },
    }


def _logs_break_even(per_request: dict[tuple[str, str], float | None], overhead: float) -> float | None:
    """The agentic share where dual-tier (with overhead) costs what mini-only does, priced with these logs' tokens.

    Per request: dual = (1+o)·((1−s)·nano_single + s·mini_agentic), mini = (1−s)·mini_single + s·mini_agentic.
    """
    single_nano, single_mini = per_request["nano", SINGLE_TURN], per_request["mini", SINGLE_TURN]
    agentic_mini = per_request["mini", AGENTIC]
    if single_nano is None or single_mini is None or agentic_mini is None:
        return None
    gap = single_mini - (1 + overhead) * single_nano
    if gap <= 0:
        return 0.0
    return gap / (gap + overhead * agentic_mini)


def _corrected_break_even(per_request: dict[tuple[str, str], float | None], overhead: float) -> float | None:
    """The same break-even per completed task at the published success rates (found by bisection)."""
    if any(value is None for value in per_request.values()) or len(per_request) < 4:
        return None

    def dual_minus_mini(s: float) -> float:
        dual = (1 + overhead) * ((1 - s) * per_request["nano", SINGLE_TURN] + s * per_request["mini", AGENTIC])  # type: ignore[operator]
        dual_done = (1 - s) * success_rate("nano", SINGLE_TURN) + s * success_rate("mini", AGENTIC)
        mini = (1 - s) * per_request["mini", SINGLE_TURN] + s * per_request["mini", AGENTIC]  # type: ignore[operator]
        mini_done = (1 - s) * success_rate("mini", SINGLE_TURN) + s * success_rate("mini", AGENTIC)
        return dual / dual_done - mini / mini_done

    lo, hi = 0.0, 1.0
    if dual_minus_mini(lo) >= 0:
        return 0.0
    if dual_minus_mini(hi) < 0:
        return 1.0
    for _ in range(60):
        middle = (lo + hi) / 2
        lo, hi = (middle, hi) if dual_minus_mini(middle) < 0 else (lo, middle)
    return (lo + hi) / 2


def _day(day: int) -> str:
    return datetime.fromtimestamp(day * DAY_S, UTC).date().isoformat()


def _per_day(tally: Tally) -> list[dict[str, Any]]:
    return [
        {"day": _day(day), "requests": n, "agentic_share": agentic / n, "grep_agentic_share": grep / n}
        for day, (n, agentic, grep) in sorted(tally.days.items())
    ]


def _time_range(tally: Tally) -> dict[str, Any] | None:
    if tally.ts_min is None or tally.ts_max is None:
        return None
    return {
        "first": datetime.fromtimestamp(tally.ts_min, UTC).isoformat(),
        "last": datetime.fromtimestamp(tally.ts_max, UTC).isoformat(),
        "timed_requests": tally.timed,
    }


def _trend(tally: Tally, break_even: float) -> dict[str, Any]:
    """Least-squares line through the daily agentic shares (weighted by requests), in points per week."""
    days = sorted(tally.days.items())
    if len(days) < MIN_TREND_DAYS:
        return {
            "available": False,
            "why": f"needs timestamps on at least {MIN_TREND_DAYS} days (the logs have {len(days)})",
        }
    weights = [n for _, (n, _a, _g) in days]
    xs = [float(day) for day, _ in days]
    ys = [agentic / n for _, (n, agentic, _g) in days]
    total = sum(weights)
    mean_x = sum(w * x for w, x in zip(weights, xs, strict=True)) / total
    mean_y = sum(w * y for w, y in zip(weights, ys, strict=True)) / total
    var = sum(w * (x - mean_x) ** 2 for w, x in zip(weights, xs, strict=True))
    slope = sum(w * (x - mean_x) * (y - mean_y) for w, x, y in zip(weights, xs, ys, strict=True)) / var
    current = mean_y + slope * (xs[-1] - mean_x)
    per_week = slope * 7
    if current >= break_even:
        weeks: float | None = 0.0
        crossing = "already above the break-even share"
    elif per_week > 0:
        weeks = (break_even - current) / per_week
        crossing = f"crosses {break_even:.1%} in {weeks:.1f} weeks at this trend"
    else:
        weeks = None
        crossing = "not rising: no crossing at this trend"
    return {
        "available": True,
        "days": len(days),
        "share_now_fitted": current,
        "points_per_week": per_week * 100,
        "weeks_to_break_even": weeks,
        "crossing": crossing,
        "model_trajectory": "the source analysis assumes +10 points a quarter (≈ 0.77 points a week)",
    }


def _cached_share(tally: Tally) -> float | None:
    known = sum(tally.cached_known.values())
    return sum(tally.cached_of_known.values()) / known if known else None


def _what_would_change_it(r: dict[str, Any]) -> list[str]:
    share, break_even = r["agentic_share"], r["break_even_agentic_share"]
    low, high = r["break_even_band"]
    notes = []
    if share < 0.20:
        notes.append(f"The published verdict table says nano below 20% agentic share, mini from 20% (now {share:.1%}).")
    elif share <= 0.60:
        notes.append(
            f"The published verdict table says mini between 20% and 60% agentic share (now {share:.1%}): "
            "nano below 20%, mini or a self-hosted open model above 60%."
        )
    else:
        notes.append(f"The published verdict table says mini or a self-hosted model above 60% (now {share:.1%}).")
    side = "below" if share < break_even else "above"
    notes.append(
        f"The calculator's break-even is {break_even:.1%} ({low:.1%}–{high:.1%} over the 0.20–0.15 overhead band): "
        f"the logs are {abs(break_even - share) * 100:.1f} points {side} it, so dual-tier "
        + ("still pays on input price." if share < break_even else "costs more than mini-only.")
    )
    trend = r["trend"]
    if trend["available"]:
        notes.append(f"Trend {trend['points_per_week']:+.2f} points/week: {trend['crossing']}.")
    logs = r["break_even_logs_priced"]
    if logs is not None:
        notes.append(
            f"Priced with these logs' own tokens (input, cached and output), dual-tier stops paying at {logs:.1%} "
            "agentic share."
        )
    corrected = r["success_corrected"]
    fix = corrected["nano_loses_if_fixing_a_failure_costs_more_than_usd"]
    if fix is not None:
        notes.append(
            f"Nano-only instead of mini-only saves money only while fixing one failed task costs less than ${fix:.4f} "
            "(published success rates)."
        )
    notes.append(
        "The success rates are benchmarks (OSWorld, SWE-Bench Pro), not your tasks: routetax in the request path with "
        "exploration measures your own, and `routetax report` puts them beside these."
    )
    return notes


def _assumptions(r: dict[str, Any], a: Assumptions) -> list[str]:
    notes = [
        f"Volume: {r['monthly_basis_text']}.",
        "Prices: litellm's map for gpt-5.4-nano and gpt-5.4-mini (standard, Batch, flex, priority as each "
        "logged request showed), cached share kept as logged; regional processing (+10%) does not show in logs "
        "and is not applied.",
        f"Dual-tier: single-turn to nano, agentic to mini, spend × (1 + overhead) with the published band "
        f"{tax_model.OVERHEAD_LOW:.2f}–{tax_model.OVERHEAD_HIGH:.2f} (midpoint {tax_model.OVERHEAD_MID:.3f}).",
        "Agentic to Qwen: single-turn to nano (with the midpoint overhead), agentic to self-hosted Qwen at 0 per token "
        "(marginal)"
        + (
            f"; amortised adds {a.gpus} GPU(s) × {HOURS_PER_MONTH:.0f} h × ${a.gpu_hour_usd:.2f}/h, always on"
            if a.gpu_hour_usd is not None
            else "; amortised needs --gpu-hour-usd"
        )
        + f" (it must serve {r['qwen']['tokens_per_second_needed']:,.0f} tokens/s on average).",
        "Success rates (published, not measured here): agentic nano 0.39 / mini 0.721 (OSWorld), single-turn "
        "nano 0.5239 / mini 0.544 (SWE-Bench Pro); none published for Qwen 3.5 9B.",
    ]
    estimated = [label for label, t in r["tokens"].items() if t["estimated"]]
    if estimated:
        notes.append(
            "Tokens estimated where no usage was logged ("
            + ", ".join(estimated)
            + "): prompts with the o200k_base tokenizer, completions at the class's logged mean "
            f"or {a.output_tokens} per request (--output-tokens) where none was logged."
        )
    return notes
