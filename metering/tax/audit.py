"""From a Tally to the audit's answer: token mix, projected monthly cost per policy, verdict.

Pure functions. Prices are the published ones from litellm's map, applied with the
modifiers each logged request showed (Batch, the reported service tier), through
`metering.cost.cost`. The policies are the engine's one table, priced from the logs' tokens
as the report prices an unmeasured policy (`metering.tax.token_view`); the routing overhead
band, the success rates and the break-even share are the published model's
(`metering.tax.model`), the break-even priced with these logs' tokens is solved as the report
solves its own (`metering.tax.break_even.crossing`), and the trend is the report's fit
(`metering.tax.trend`). Every number that rests on an assumption rather than the logs says so
in `assumptions`.
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
from metering.tax import trend as trend_fit
from metering.tax.assumptions import Assumptions
from metering.tax.audit_breakdown import breakdowns
from metering.tax.audit_days import add_day_intervals
from metering.tax.audit_decision import decide
from metering.tax.audit_estimates import (
    DEFAULT_COMPLETION_TOKENS,
    cached_share_estimate,
    completion_estimate,
    estimates_json,
)
from metering.tax.audit_priority import priority_on_nano
from metering.tax.audit_spend import logged_spend_monthly
from metering.tax.break_even import crossing
from metering.tax.policy_table import CHEAP_ONLY, DUAL, MID_ONLY, policies_for
from metering.tax.roles import Role
from metering.tax.share_interval import agentic_share_interval, undetermined_rows
from metering.tax.token_view import TokenPolicy, token_plan, token_view
from metering.tax.trend_interval import with_interval

# The models the logs are priced at, by the role their tier plays (the audit has no deployment to ask).
ROLE_MODELS = {Role.CHEAP: "gpt-5.4-nano", Role.MID: "gpt-5.4-mini"}
HOURS_PER_MONTH = 730.0  # 365 × 24 / 12
DAYS_PER_MONTH = 365 / 12
MIN_SPAN_S = 3600.0  # a shorter log is not extrapolated to a month from its own rate
MIN_TREND_DAYS = 3
LABELS = (SINGLE_TURN, AGENTIC)


def success_rate(tier: str, label: str, a: Assumptions) -> float:
    """The published success rate of a tier on a class (OSWorld agentic, SWE-Bench Pro single-turn)."""
    rate = tax_model.published_success_rate(a.role_of(tier), label)
    if rate is None:
        raise ValueError(f"no published success rate for {tier} ({a.role_of(tier)}) on {label}")
    return rate


def gpu_hour_usd(a: Assumptions) -> float | None:
    """The self-hosted tier's GPU-hour (--gpu-hour-usd), or None: no amortised view."""
    tier = a.self_hosted_tier
    return a.gpu_hour_usd.get(tier) if tier is not None else None


def token_mix(
    tally: Tally, output_tokens: int | None
) -> tuple[dict[tuple[str, str], Usage], dict[str, dict[str, Any]]]:
    """Token sums per class × pricing mode, estimates filled in, and the per-class summary."""
    mix: dict[tuple[str, str], Usage] = {}
    summary: dict[str, dict[str, Any]] = {}
    for label in LABELS:
        buckets = {mode: b for (lab, mode), b in tally.buckets.items() if lab == label}
        logged = sum(b.logged for b in buckets.values())
        estimate = completion_estimate(tally, label, output_tokens)[0]  # measured, else a stated default
        per_request = estimate.value
        filled_from = f"measured on {estimate.n:,}" if estimate.n else "stated default, below"
        cache = cached_share_estimate(tally, label).value
        totals = Usage()
        estimated = 0
        for mode, b in buckets.items():
            completion = b.completion + round(b.estimated * per_request)
            usage = Usage(
                b.prompt + b.estimated_prompt, b.cached + round(b.estimated_prompt * cache), completion, b.reasoning
            )
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


@dataclass(frozen=True, slots=True)
class _Projection:
    """The logs priced per policy and put on the monthly basis: what a breakdown row needs, and what the report
    builds the rest on."""

    mix: dict[tuple[str, str], Usage]
    tokens: dict[str, dict[str, Any]]
    monthly: float
    basis: str
    basis_text: str
    scale: float
    spend: dict[tuple[str | None, str], float]
    requests: dict[str, int]
    views: dict[float, dict[str, TokenPolicy]]
    projected: dict[str, float | None]
    gpu_hour: float | None
    gpu_monthly: float | None


def _project(tally: Tally, a: Assumptions) -> _Projection:
    mix, tokens = token_mix(tally, a.output_tokens)
    monthly, basis, basis_text = monthly_requests(tally, a.calls_per_month)
    scale = monthly / tally.requests if tally.requests else 0.0
    spend = {  # logged window, USD: each class's tokens at the model of each priced role's tier
        (a.tier(role), label): _spend(mix, price_for(model), label)
        for role, model in ROLE_MODELS.items()
        for label in LABELS
    }
    repriced: dict[str, dict[str, float]] = {label: {} for label in LABELS}
    for (tier, label), usd in spend.items():
        repriced[label][tier] = usd  # type: ignore[index]
    if a.self_hosted_tier is not None:
        for label in LABELS:
            repriced[label][a.self_hosted_tier] = 0.0  # self-hosted tokens cost nothing at the margin
    requests = {label: tokens[label]["requests"] for label in LABELS}
    low, mid, high = tax_model.OVERHEAD_LOW, tax_model.OVERHEAD_MID, tax_model.OVERHEAD_HIGH
    plan = token_plan(a)
    views = {overhead: token_view(repriced, requests, plan, overhead) for overhead in (low, mid, high)}
    names = policies_for(a)  # the engine's one policy table: nano_only, mini_only, dual, agentic_to_qwen ...

    def monthly_spend(name: str, overhead: float = mid) -> float:
        return scale * (views[overhead][name].spend_usd or 0.0)

    cheap_only, mid_only = CHEAP_ONLY.name(a) or "nano_only", MID_ONLY.name(a) or "mini_only"
    to_self_hosted = next((n for n, (p, _) in names.items() if p.self_hosted and p.splits_by_class), None)
    gpu_hour = gpu_hour_usd(a)
    gpu_monthly = a.gpus * HOURS_PER_MONTH * gpu_hour if gpu_hour is not None else None
    projected: dict[str, float | None] = {
        cheap_only: monthly_spend(cheap_only),
        mid_only: monthly_spend(mid_only),
        "dual": monthly_spend("dual"),
        "dual_low": monthly_spend("dual", low),
        "dual_high": monthly_spend("dual", high),
    }
    if to_self_hosted is not None:
        projected[to_self_hosted] = monthly_spend(to_self_hosted)
        projected[f"{to_self_hosted}_amortised"] = (
            None if gpu_monthly is None else monthly_spend(to_self_hosted) + gpu_monthly
        )
    return _Projection(
        mix, tokens, monthly, basis, basis_text, scale, spend, requests, views, projected, gpu_hour, gpu_monthly
    )


def projected_monthly_usd(tally: Tally, assumptions: Assumptions) -> dict[str, float | None]:
    """Each policy's monthly spend on these logs — a breakdown row's figures, without the report's decision."""
    return _project(tally, assumptions).projected


def project(tally: Tally, assumptions: Assumptions) -> dict[str, Any]:
    """Everything the audit reports, as JSON-ready data."""
    a = assumptions
    p = _project(tally, a)
    tokens, scale, requests, projected = p.tokens, p.scale, p.requests, p.projected
    low, mid, high = tax_model.OVERHEAD_LOW, tax_model.OVERHEAD_MID, tax_model.OVERHEAD_HIGH
    mid_only = MID_ONLY.name(a) or "mini_only"
    agentic_tokens = scale * (tokens[AGENTIC]["prompt_tokens"] + tokens[AGENTIC]["completion_tokens"])
    mini_only = projected[mid_only]
    share = tally.agentic / tally.requests if tally.requests else 0.0
    corrected = _success_corrected(projected, p.views[mid], scale, requests, a)
    break_even = tax_model.break_even_agentic_share(mid)
    per_request = {key: value / requests[key[1]] if requests[key[1]] else None for key, value in p.spend.items()}
    logs_break_even = _break_even_priced(per_request, mid, a, published_rates=False)
    corrected_break_even = _break_even_priced(per_request, mid, a, published_rates=True)
    trend = with_interval(_trend(tally, break_even), tally.days, break_even)  # crossing only when significant
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
        "agentic_share_interval": agentic_share_interval(tally.agentic, tally.requests, undetermined_rows(tally)),
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
        "monthly_requests": p.monthly,
        "monthly_basis": p.basis,
        "monthly_basis_text": p.basis_text,
        "projected_monthly_usd": projected,
        "savings_vs_mini": {
            key: (1 - value / mini_only) if mini_only and value is not None else None
            for key, value in projected.items()
            if key != mid_only
        },
        "qwen": {
            "gpu_hour_usd": p.gpu_hour,
            "gpus": assumptions.gpus,
            "gpu_monthly_usd": p.gpu_monthly,
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
    add_day_intervals(result["per_day"])
    result.update(logged_spend_monthly(tally, p.monthly))
    result["priority_on_nano"] = priority_on_nano(tally, p.mix, scale)
    result["breakdowns"] = breakdowns(tally, assumptions, scale, projected_monthly_usd)
    result["estimates"] = estimates_json(tally, assumptions.output_tokens)
    result.update(decide(p.mix, requests, scale, a, result["agentic_share_interval"], corrected))  # the one decision
    result["what_would_change_it"] = _what_would_change_it(result)
    result["assumptions"] = _assumptions(result, assumptions)
    if result["priority_on_nano"] is not None:
        result["assumptions"].append(result["priority_on_nano"]["note"])
    return result


def _success_corrected(
    projected: dict[str, float | None],
    view: dict[str, TokenPolicy],
    scale: float,
    requests: dict[str, int],
    a: Assumptions,
) -> dict[str, Any]:
    """Cost per completed task at the published success rates (benchmarks, not these logs' tasks): the engine's
    token view, which a report shows for a policy it has not measured yet."""
    cheap_only, mid_only = CHEAP_ONLY.name(a) or "nano_only", MID_ONLY.name(a) or "mini_only"
    per_task: dict[str, float | None] = {}
    completed: dict[str, float] = {}
    for name in (cheap_only, mid_only, "dual"):
        done = view[name].completed or 0.0
        completed[name] = done * scale
        per_task[name] = view[name].cost_per_completed_task_usd
    for name, policy in view.items():
        if name not in per_task and name in projected:
            per_task[name] = policy.cost_per_completed_task_usd  # agentic to Qwen: no published rate, None
    cheap, mid = a.tier(Role.CHEAP) or "nano", a.tier(Role.MID) or "mini"
    monthly_by_label = {label: requests[label] * scale for label in LABELS}
    extra_failures_nano = sum(
        monthly_by_label[label] * (success_rate(mid, label, a) - success_rate(cheap, label, a)) for label in LABELS
    )
    extra_failures_dual = monthly_by_label[SINGLE_TURN] * (
        success_rate(mid, SINGLE_TURN, a) - success_rate(cheap, SINGLE_TURN, a)
    )
    mini, nano, dual = projected[mid_only] or 0.0, projected[cheap_only] or 0.0, projected["dual"] or 0.0
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


def _break_even_priced(
    per_request: dict[tuple[str | None, str], float | None], overhead: float, a: Assumptions, published_rates: bool
) -> float | None:
    """The agentic share where dual-tier (with overhead) costs what mid-only does, priced with these logs' tokens:
    per request (every request a completed task), or per completed task at the published success rates. Solved
    as the report solves its measured break-even (metering/tax/break_even.py).

    Per request: dual = (1+o)·((1−s)·cheap_single + s·mid_agentic), mid-only = (1−s)·mid_single + s·mid_agentic.
    """
    dual_tiers, mid_tiers = DUAL.tiers(a), MID_ONLY.tiers(a)
    if dual_tiers is None or mid_tiers is None:
        return None

    def lines(tiers: dict[str, str], load: float) -> dict[str, tuple[float, float]] | None:
        out = {}
        for label in LABELS:
            cost_per_request = per_request.get((tiers[label], label))
            if cost_per_request is None:
                return None
            rate = success_rate(tiers[label], label, a) if published_rates else 1.0
            out[label] = (load * cost_per_request, rate)
        return out

    dual, mid = lines(dual_tiers, 1 + overhead), lines(mid_tiers, 1.0)
    if dual is None or mid is None:
        return None
    return crossing(dual, mid)


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
    """The daily agentic shares' line (metering/tax/trend.py, each day weighted by its requests), in points per
    week."""
    days = sorted(tally.days.items())
    line = trend_fit.fit([(float(day), agentic / n) for day, (n, agentic, _g) in days], [n for _, (n, _a, _g) in days])
    if len(days) < MIN_TREND_DAYS or line is None:
        return {
            "available": False,
            "why": f"needs timestamps on at least {MIN_TREND_DAYS} days (the logs have {len(days)})",
        }
    current = line.at(float(days[-1][0]))
    per_week = line.slope * 7
    weeks = trend_fit.weeks_to_cross(current, per_week, break_even)
    if weeks == 0.0:
        crossing_text = "already above the break-even share"
    elif weeks is not None:
        crossing_text = f"crosses {break_even:.1%} in {weeks:.1f} weeks at this trend"
    else:
        crossing_text = "not rising: no crossing at this trend"
    return {
        "available": True,
        "days": len(days),
        "share_now_fitted": current,
        "points_per_week": per_week * 100,
        "weeks_to_break_even": weeks,
        "crossing": crossing_text,
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
        notes.append(f"Trend {trend['reading']}.")
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
    gpu_hour = r["qwen"]["gpu_hour_usd"]
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
            f"; amortised adds {a.gpus} GPU(s) × {HOURS_PER_MONTH:.0f} h × ${gpu_hour:.2f}/h, always on"
            if gpu_hour is not None
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
            + "): prompts with the o200k_base tokenizer; completions and cached share from the logs' measured "
            "requests of the same class (and model) where there are any, else stated defaults "
            + (
                f"({a.output_tokens} completion tokens a request, --output-tokens"
                if a.output_tokens is not None
                else f"({DEFAULT_COMPLETION_TOKENS[SINGLE_TURN]} completion tokens a single-turn request, "
                f"{DEFAULT_COMPLETION_TOKENS[AGENTIC]} an agentic one: real answers' means"
            )
            + "; no cache hit); `estimates` in --json says which, on how many."
        )
    return notes
