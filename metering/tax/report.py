"""The routing-tax report: the published model next to what the traffic measured (docs/routing-tax.md).

Two questions, kept apart, as the cost model keeps them:

- **Overhead** — what routing adds on top of serving each request once where it ended:
  `actual − base`, split into parts that sum exactly (redo, retry/fallback, cache loss,
  infrastructure, classifier). Failed tasks are not overhead: they are the verdict's business.
- **Verdict** — is dual-tier cheaper *per completed task* than sending everything to one tier?
  Each (tier, class) cell is measured on the requests first routed there (exploration makes every
  cell measurable without selection bias); a single-tier policy reads, for each class, its tier's own
  cell: what those requests cost (their own tokens, retries and redos) and how often they succeeded.
  Repricing other tiers' tokens at the tier is only an estimate, shown for a policy whose cell has no
  traffic and never decided on; success rates carry 95% Wilson intervals, and the decision is taken
  only when the policies' intervals are apart.

Every figure is computed from ledger records; a cell without traffic is "not measured" (None) and
never borrows a published or neighbouring number.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from metering.cost import base_usd
from metering.record import EndedBy, Outcome, Record
from metering.tax import break_even as bootstrap
from metering.tax import model as tax_model
from metering.tax import trend
from metering.tax.assumptions import Assumptions
from metering.tax.break_even import Stratum
from metering.tax.figures import Basis, Level, PolicyFigures
from metering.tax.intervals import wilson
from metering.tax.percentile import nearest_rank
from metering.tax.policy_table import mid_policy, policies_for
from metering.tax.roles import CLASSES, Role
from metering.tax.token_view import token_plan, token_view, token_view_json
from metering.verdict import Decision


def served_ok(record: Record) -> bool:
    """The record's own half of success: a 2xx answer whose final attempt was not degraded."""
    return record.outcome == Outcome.SUCCESS and record.status < 400


def succeeded(record: Record, feedback: Mapping[str, bool]) -> bool:
    """Served ok and no feedback saying the task failed (no feedback counts as success: an assumption)."""
    return served_ok(record) and feedback.get(record.request_id, True)


@dataclass
class _Cell:
    """Requests first routed to one tier in one class, and what all their attempts cost."""

    requests: int = 0
    explored: int = 0
    successes: int = 0
    with_feedback: int = 0
    spend: float = 0.0  # billed, all attempts
    amortised: float = 0.0  # GPU-hours charged to the self-hosted attempts among them

    def cost_per_request(self, amortise: bool = True) -> float:
        """What these requests really cost, per request: their own tokens, the tier's own retries and redos, and
        the dearer tiers its fallbacks led to (gpt-5.4 after mini); with `amortise`, the GPU time they took."""
        return (self.spend + (self.amortised if amortise else 0.0)) / self.requests

    def rate(self) -> float | None:
        return self.successes / self.requests if self.requests else None


@dataclass(frozen=True)
class _Line:
    """One class's figures under a policy: cost per request and success rate with its interval."""

    cost_per_request: float
    rate: float
    lo: float
    hi: float


def build_report(
    records: Iterable[Record], feedback: Mapping[str, bool] | None = None, assumptions: Assumptions | None = None
) -> dict[str, Any]:
    feedback = feedback or {}
    a = assumptions or Assumptions()
    records = list(records)
    judge_usd = sum(record.cost_usd for record in records if record.is_judge)  # measurement: a line of its own
    records = [record for record in records if record.is_task]  # embeddings are spend, not steps of a task
    n = len(records)
    hours = a.hours  # hourly costs follow the window asked for, never the span its traffic happens to cover
    rates = amortised_rates(records, a.gpu_hour_usd, hours)
    mid = a.tier(Role.MID)  # mini by default: the tier the source analysis weighs dual-tier against

    by_class: dict[str, int] = defaultdict(int)
    class_cf: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    cells: dict[tuple[str, str], _Cell] = defaultdict(_Cell)
    routed: dict[str, _Cell] = defaultdict(_Cell)  # class -> the dual-tier side: routed by policy, not explored
    parts = dict.fromkeys(("redo", "retry_fallback", "cache_loss", "infrastructure", "classifier"), 0.0)
    billed_total = base = amortised_total = 0.0
    explored_spend: list[tuple[str, float]] = []
    strata: dict[tuple[str, str], Stratum] = {}  # for the break-even bootstrap: requests by the cell measured in
    overheads = []
    for record in records:
        label = record.label
        by_class[label] += 1
        ok = succeeded(record, feedback)
        spend, amortised = _spend(record, rates)
        billed_total += spend
        amortised_total += amortised
        base += base_usd(record)
        parts["cache_loss"] += record.cache_loss_usd
        for attempt in record.attempts[:-1]:
            if attempt.billed:
                parts["redo" if attempt.ended_by == EndedBy.REDO else "retry_fallback"] += attempt.cost_usd
        for tier, usd in record.counterfactual_usd.items():
            class_cf[label][tier] += usd
        first = record.routed_tier or (record.attempts[0].tier if record.attempts else None)
        if first is not None:
            _count(cells[(first, label)], record, ok, spend, amortised, feedback)
        costs = {  # dual reads what a routed request cost; mid-only what a request first sent to mid cost
            "dual": spend + amortised if not record.explored and not record.pinned else None,
            "mini": spend + amortised if mid is not None and first == mid else None,
        }
        if costs["dual"] is not None or costs["mini"] is not None:
            strata.setdefault((first or "-", label), Stratum(label)).add(costs, ok, True)
        if record.explored:
            explored_spend.append((label, spend + amortised))
        elif not record.pinned:
            _count(routed[label], record, ok, spend, amortised, feedback)
        overheads.append(record.proxy_overhead_ms)
    parts["infrastructure"] = a.router_hour_usd * hours
    parts["classifier"] = a.classifier_usd_per_request * n
    actual = billed_total + parts["infrastructure"] + parts["classifier"]
    fixed_per_request = (parts["infrastructure"] + parts["classifier"]) / n if n else 0.0
    classes = [c for c in CLASSES if by_class.get(c)]

    def single_tier(tiers: Mapping[str, str], amortise: bool = True) -> Callable[[str], _Line | str]:
        """Class c on tier T: the (T, c) cell's own requests, what they cost and how often they succeeded. Never the
        class's other requests repriced at T: another tier's answers are not T's (qwen writes 10 completion
        tokens where mini writes 74), so repricing them is only an estimate, kept for a cell not measured."""

        def line(label: str) -> _Line | str:
            tier = tiers[label]
            cell = cells.get((tier, label))
            if cell is None or not cell.requests:
                return f"{tier}/{label}"
            return _line(cell.cost_per_request(amortise), cell)

        return line

    def dual(label: str) -> _Line | str:
        cell = routed.get(label)
        if cell is None or not cell.requests:
            return f"dual/{label}"
        return _line((cell.spend + cell.amortised) / cell.requests + fixed_per_request, cell)

    table = policies_for(a)
    lines: dict[str, Callable[[str], _Line | str]] = {
        name: dual if policy.as_run else single_tier(tiers) for name, (policy, tiers) in table.items()
    }
    # what `routetax audit` would say for these requests: their tokens repriced, the published rates and overhead
    published = token_view(class_cf, by_class, token_plan(a), tax_model.OVERHEAD_MID)
    policies: dict[str, PolicyFigures] = {}
    for name, (policy, tiers) in table.items():
        figures = _policy(name, lines[name], classes, by_class, a.failure_cost_usd, policy.self_hosted)
        if policy.self_hosted:
            marginal = _policy(name, single_tier(tiers, amortise=False), classes, by_class, a.failure_cost_usd)
            figures = replace(figures, marginal_cost_per_completed_task_usd=marginal.cost_per_completed_task_usd)
        if not figures.measured and not policy.as_run and not policy.splits_by_class:
            figures = replace(figures, estimate_at_published_rates_usd=published[name].cost_per_completed_task_usd)
        policies[name] = replace(figures, role=policy.key)
    mid_name = mid_policy(a)
    mid_only = policies.get(mid_name) if mid_name is not None else None

    dual_line = {c: dual(c) for c in CLASSES}
    mini_line = {c: lines[mid_name](c) if mid_name in lines else f"mid/{c}" for c in CLASSES}
    break_even, break_even_ci = None, [None, None]
    if not any(isinstance(v, str) for v in (*dual_line.values(), *mini_line.values())):
        offsets = {("dual", c): fixed_per_request for c in CLASSES}
        found = bootstrap.break_even(
            list(strata.values()), offsets, a.failure_cost_usd, a.break_even_resamples, max_draws=a.break_even_max_draws
        )
        break_even, break_even_ci = found.point, list(found.ci)
    exploration_usd = None
    if all(isinstance(dual_line[label], _Line) for label, _ in explored_spend):
        exploration_usd = sum(
            usd - (dual_line[label].cost_per_request - fixed_per_request) for label, usd in explored_spend
        )
    mini_cf = sum(class_cf[c].get(mid, 0.0) for c in classes) if mid is not None else 0.0
    dual_cost = policies["dual"].cost_per_completed_task_usd
    mini_cost = mid_only.cost_per_completed_task_usd if mid_only is not None else None
    with_feedback = sum(cell.with_feedback for cell in cells.values())
    measured = {
        "requests": n,
        "explored_requests": len(explored_spend),
        "pinned_requests": sum(1 for r in records if r.pinned),
        "agentic_share": by_class["agentic"] / n if n else None,
        "feedback_coverage": with_feedback / n if n else None,
        "spend": {
            "actual": actual,
            "base": base,
            "counterfactual": {t: sum(class_cf[c].get(t, 0.0) for c in classes) for t in _tiers_priced(class_cf)},
            "amortised_self_hosted": amortised_total,
            "exploration": exploration_usd,
            "judge": judge_usd,  # the judge's calls (docs/task-records.md, the judge): charged to no policy
        },
        "routing_overhead": (actual - base) / base if base > 0 else None,
        "overhead_parts_usd": parts,
        "overhead_parts": {k: (v / base if base > 0 else None) for k, v in parts.items()},
        "cells": _cells(cells, a, rates),
        "policies": {name: figures.to_json() for name, figures in policies.items()},
        "mid_policy": mid_name,  # the policy dual is weighed against: everything to the mid tier (mini_only)
        "published_view": token_view_json(published, tax_model.OVERHEAD_MID),
        "savings_vs_mini": 1 - dual_cost / mini_cost if dual_cost is not None and mini_cost else None,
        "savings_vs_mini_tokens": 1 - actual / mini_cf if mini_cf else None,
        "break_even_agentic_share": break_even,
        "break_even_ci": break_even_ci,
        "self_hosted": {
            tier: {"gpu_hours": hours, "gpu_hour_usd": a.gpu_hour_usd[tier], "usd_per_token": rate}
            for tier, rate in rates.items()
        },
        **_trend(records, break_even),
        "latency_overhead_ms": {
            "p50": nearest_rank(overheads, 0.50),
            "p99": nearest_rank(overheads, 0.99),
        },
    }
    model = {
        "routing_overhead": [tax_model.OVERHEAD_LOW, tax_model.OVERHEAD_HIGH],
        "break_even_agentic_share": tax_model.break_even_agentic_share(),
        "success_rate": {
            tier: {"agentic": tax_model.SUCCESS_AGENTIC[tier], "single_turn": tax_model.SUCCESS_SINGLE_TURN[tier]}
            for tier in ("nano", "mini")
        },
    }
    verdict = _verdict(policies["dual"], mid_only, n, with_feedback)
    verdict["text"] = _verdict_text(measured, policies, verdict, model)
    return {
        "measured": measured,
        "model": model,
        "assumptions": {
            "router_hour_usd": a.router_hour_usd,
            "hours": a.hours,
            "hours_charged": hours,
            "classifier_usd_per_request": a.classifier_usd_per_request,
            "failure_cost_usd": a.failure_cost_usd,
            "gpu_hour_usd": dict(a.gpu_hour_usd),
            "roles": {str(role): tier for role, tier in a.roles.items()},
            "no_feedback_counts_as_success": True,
            "cost_uncertainty_ignored": True,  # intervals come from success rates; costs are taken as measured
        },
        "verdict": verdict,
    }


def _count(cell: _Cell, record: Record, ok: bool, spend: float, amortised: float, feedback: Mapping[str, bool]) -> None:
    cell.requests += 1
    cell.explored += record.explored
    cell.successes += ok
    cell.with_feedback += record.request_id in feedback
    cell.spend += spend
    cell.amortised += amortised


def _spend(record: Record, rates: Mapping[str, float]) -> tuple[float, float]:
    """(billed, amortised) over all of one record's attempts."""
    billed = amortised = 0.0
    for attempt in record.attempts:
        if attempt.billed:
            billed += attempt.cost_usd
            if attempt.tier in rates and attempt.usage is not None:
                amortised += attempt.usage.total_tokens * rates[attempt.tier]
    return billed, amortised


def amortised_rates(records: list[Record], gpu_hour_usd: Mapping[str, float], hours: float) -> dict[str, float]:
    """USD per token of each self-hosted tier: the window's GPU-hours × price ÷ the tokens it served.

    Charging each request its tokens at this one rate makes the window's amortised charges add up to
    GPU-hours × price exactly (a running per-hour count would charge early requests the whole hour).
    A tier that served no tokens has no rate.
    """
    tokens: dict[str, int] = defaultdict(int)
    for record in records:
        for attempt in record.attempts:
            if attempt.billed and attempt.tier in gpu_hour_usd and attempt.usage is not None:
                tokens[attempt.tier] += attempt.usage.total_tokens
    return {tier: gpu_hour_usd[tier] * hours / count for tier, count in tokens.items() if count}


def _line(cost_per_request: float, cell: _Cell) -> _Line:
    lo, hi = wilson(cell.successes, cell.requests) or (0.0, 1.0)
    return _Line(cost_per_request, cell.successes / cell.requests, lo, hi)


def _per_task(
    lines: Mapping[str, _Line], by_class: Mapping[str, int], rate: Callable[[_Line], float], failure: float
) -> float | None:
    """Σ requests × (cost per request + failures × failure cost) ÷ Σ requests × success rate (None if no success)."""
    cost = sum(by_class[c] * (line.cost_per_request + (1 - rate(line)) * failure) for c, line in lines.items())
    completed = sum(by_class[c] * rate(line) for c, line in lines.items())
    return cost / completed if completed > 0 else None


def _policy(
    name: str,
    line: Callable[[str], _Line | str],
    classes: list[str],
    by_class: Mapping[str, int],
    failure: float,
    self_hosted: bool = False,
) -> PolicyFigures:
    """A policy's cost per completed task with the interval its cells' success intervals imply.

    The cost falls as any success rate rises, so the interval's ends come from the rates' ends.
    """
    found = {c: line(c) for c in classes}
    missing = tuple(v for v in found.values() if isinstance(v, str))
    if missing or not classes:
        return PolicyFigures(name, Level.REQUEST, False, missing_cells=missing, self_hosted=self_hosted)
    lines: dict[str, _Line] = found  # type: ignore[assignment]
    return PolicyFigures(
        name,
        Level.REQUEST,
        True,
        cost_per_completed_task_usd=_per_task(lines, by_class, lambda x: x.rate, failure),
        ci=(_per_task(lines, by_class, lambda x: x.hi, failure), _per_task(lines, by_class, lambda x: x.lo, failure)),
        success_rate={c: lines[c].rate for c in classes},
        cost_per_unit_usd={c: lines[c].cost_per_request for c in classes},
        self_hosted=self_hosted,
    )


def _cells(cells: Mapping[tuple[str, str], _Cell], a: Assumptions, rates: Mapping[str, float]) -> list[dict[str, Any]]:
    names = list(dict.fromkeys([*a.tiers, *(tier for tier, _ in cells)]))
    out = []
    for tier in names:
        for label in CLASSES:
            cell = cells.get((tier, label)) or _Cell()
            ci = wilson(cell.successes, cell.requests)
            out.append(
                {
                    "tier": tier,
                    "class": label,
                    "requests": cell.requests,
                    "explored": cell.explored,
                    "successes": cell.successes,
                    "success_rate": cell.rate(),
                    "success_ci": list(ci) if ci else [None, None],
                    "feedback_coverage": cell.with_feedback / cell.requests if cell.requests else None,
                    "cost_per_request_usd": cell.spend / cell.requests if cell.requests else None,
                    "cost_per_completed_task_usd": cell.spend / cell.successes if cell.successes else None,
                    "amortised_usd": cell.amortised if tier in rates else None,
                    "published_success_rate": tax_model.published_success_rate(a.role_of(tier), label),
                    "measured": cell.requests > 0,
                }
            )
    return out


def _tiers_priced(class_cf: Mapping[str, Mapping[str, float]]) -> list[str]:
    return sorted({tier for per_class in class_cf.values() for tier in per_class})


def _verdict(dual: PolicyFigures, mini: PolicyFigures | None, n: int, with_feedback: int) -> dict[str, Any]:
    """dual_tier_pays / mini_only_cheaper when the two intervals are apart; otherwise undecided, and what decides it.

    `mini` is everything sent to the mid tier (mini-only by default); None when no tier plays the mid role."""
    out: dict[str, Any] = {"decision": Decision.UNDECIDED, "dual_tier_pays": False, "decide_by": None}
    if not n:
        out["decide_by"] = "traffic: there is none in this window"
        return out
    if mini is None:
        out["decide_by"] = "a tier in the mid role (tiers.<name>.role: mid) to weigh dual-tier against"
        return out
    missing = [*dual.missing_cells, *mini.missing_cells]
    if missing:
        out["unmeasured_cells"] = missing
        out["decide_by"] = "measuring " + ", ".join(missing) + " (policy.explore sends a share of auto traffic there)"
        return out
    d_lo, d_hi = dual.ci
    m_lo, m_hi = mini.ci
    if d_hi is not None and m_lo is not None and d_hi < m_lo:
        out.update(decision=Decision.DUAL_TIER_PAYS, dual_tier_pays=True)
    elif d_lo is not None and m_hi is not None and d_lo > m_hi:
        out["decision"] = Decision.MINI_ONLY_CHEAPER
    else:
        gap = abs(dual.cost_per_completed_task_usd - mini.cost_per_completed_task_usd)  # type: ignore[operator]
        widths = [(hi - lo) / 2 for lo, hi in ((d_lo, d_hi), (m_lo, m_hi)) if lo is not None and hi is not None]
        if gap <= 1e-15 or len(widths) < 2:
            out["decide_by"] = "nothing measurable: the two policies cost the same per completed task"
        else:
            # intervals narrow as 1/sqrt(requests): the traffic at which the half-widths fit inside the gap
            factor = (sum(widths) / gap) ** 2
            more = max(1, math.ceil(n * (factor - 1)))
            out["more_requests"] = more
            out["decide_by"] = f"about {more} more requests at this mix (the intervals overlap)"
            smaller = min(dual.cost_per_completed_task_usd, mini.cost_per_completed_task_usd)  # type: ignore[type-var]
            if smaller > 0 and gap / smaller < 0.01:
                out["decide_by"] = (
                    f"no practical difference: the two differ by {gap / smaller:.2%} per completed task "
                    f"(about {more} more requests would separate them)"
                )
    if with_feedback < n:
        out["assumption"] = f"{n - with_feedback} of {n} requests have no feedback and count as successes"
    return out


TREND_MIN_SPAN_S = 6 * 3600  # the least traffic span the agentic-share trend is extrapolated from


def _trend(records: list[Record], break_even: float | None) -> dict[str, float | None]:
    """The agentic share's trend (metering/tax/trend.py, over time buckets) and the weeks until it crosses break-even.

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
    line = trend.fit(points) if len(points) >= 3 else None
    if line is None:
        return out
    per_week = line.slope * 7 * 86400
    out["agentic_share_trend_per_week"] = per_week
    if break_even is not None:
        out["weeks_to_break_even"] = trend.weeks_to_cross(points[-1][1], per_week, break_even)
    return out


def _verdict_text(
    measured: Mapping[str, Any],
    policies: Mapping[str, PolicyFigures],
    verdict: Mapping[str, Any],
    model: Mapping[str, Any],
) -> str:
    if not measured["requests"]:
        return "No traffic in this window: nothing to judge."
    dual, mini = policies["dual"], policies.get(measured["mid_policy"])
    mid = (measured["mid_policy"] or "mid_only").removesuffix("_only")
    head = {
        Decision.DUAL_TIER_PAYS: "Dual-tier routing pays per completed task",
        Decision.MINI_ONLY_CHEAPER: f"Sending everything to {mid} is cheaper per completed task",
        Decision.UNDECIDED: "Undecided",
    }[verdict["decision"]]
    parts = [f"agentic share {measured['agentic_share']:.0%}"]
    if mini is not None and dual.measured and mini.measured:
        parts.append(
            f"dual ${dual.cost_per_completed_task_usd:.6f} {_ci(dual.ci)} vs {mid}-only "
            f"${mini.cost_per_completed_task_usd:.6f} {_ci(mini.ci)} per completed task"
        )
    elif mini is not None and mini.basis is Basis.REPRICED_ESTIMATE:
        parts.append(
            f"{mid}-only not measured (estimate ${mini.estimate_usd:.6f} per completed task: tokens repriced at "
            "published success rates, never decided on)"
        )
    overhead = measured["routing_overhead"]
    if overhead is not None:
        low, high = model["routing_overhead"]
        parts.append(f"routing overhead {overhead:.1%} (model {low:.0%}–{high:.0%})")
    text = f"{head}: " + ", ".join(parts) + "."
    if verdict.get("decide_by"):
        text += f" Deciding it needs {verdict['decide_by']}."
    return text


def _ci(ci: tuple[float | None, float | None]) -> str:
    lo, hi = ci
    return f"[{'?' if lo is None else f'{lo:.6f}'}, {'?' if hi is None else f'{hi:.6f}'}]"
