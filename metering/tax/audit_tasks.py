"""The audit per task: the logs' requests grouped into tasks (metering/audit/task_groups.py), priced on the one
tax engine as the per-request view is, beside it.

What a team pays for and what succeeds is a task, and the proxy routes a task as a whole: every step of a task
that is agentic at any step goes to the agentic tier. So the per-task view prices the same tokens with each
step's class replaced by its task's class, through the engine's token view (`metering.tax.token_view`: every
policy of the one policy table, a policy that splits classes loaded with the published overhead band, completed
tasks at the published success rates — which are rates per task). Cells of measured tasks and their outcomes
(`metering.tax.cells`) need outcomes the logs do not have: the token view is what the report shows for a policy
whose cells are not measured, and the audit's tasks are in that position.

The tokens are the per-request view's: logged usage exactly, and where it was estimated the per-request view's
estimate of each class spread over the task classes (prompts and cached tokens by the requests' estimated prompt
tokens, completions and reasoning by their number), so the two views price the same total.
"""

from __future__ import annotations

from typing import Any

from metering.audit.scan import AGENTIC, SINGLE_TURN, Bucket, Tally
from metering.audit.task_groups import JOINED, Grouping, TaskGroups
from metering.prices import price_for
from metering.record import Usage
from metering.tax import model as tax_model
from metering.tax.assumptions import Assumptions
from metering.tax.audit import LABELS, ROLE_MODELS, _spend
from metering.tax.percentile import nearest_rank
from metering.tax.policy_table import CHEAP_ONLY, MID_ONLY, policies_for
from metering.tax.token_view import token_plan, token_view


def project_tasks(tally: Tally, result: dict[str, Any], a: Assumptions) -> dict[str, Any] | None:
    """The `tasks` section of the audit's answer (None when nothing was grouped)."""
    g = tally.tasks
    if g is None or not g.tasks:
        return None
    mix = _task_mix(tally, g, result["tokens"])
    repriced: dict[str, dict[str, float]] = {label: {} for label in LABELS}
    for role, model in ROLE_MODELS.items():
        tier = a.tier(role)
        if tier is None:
            continue
        for label in LABELS:
            repriced[label][tier] = _spend(mix, price_for(model), label)
    if a.self_hosted_tier is not None:
        for label in LABELS:
            repriced[label][a.self_hosted_tier] = 0.0  # self-hosted tokens cost nothing at the margin
    tasks = {SINGLE_TURN: g.tasks - g.agentic_tasks, AGENTIC: g.agentic_tasks}
    low, mid, high = tax_model.OVERHEAD_LOW, tax_model.OVERHEAD_MID, tax_model.OVERHEAD_HIGH
    plan = token_plan(a)
    views = {overhead: token_view(repriced, tasks, plan, overhead) for overhead in (low, mid, high)}
    scale = result["monthly_requests"] / g.grouped  # the same monthly volume of requests, grouped as the logs are
    spend: dict[str, float | None] = {name: policy.spend_usd for name, policy in views[mid].items()}
    spend["dual_low"], spend["dual_high"] = views[low]["dual"].spend_usd, views[high]["dual"].spend_usd
    projected = {name: None if usd is None else usd * scale for name, usd in spend.items()}
    gpu_monthly = result["qwen"]["gpu_monthly_usd"]
    to_self_hosted = next((n for n, (p, _) in policies_for(a).items() if p.self_hosted and p.splits_by_class), None)
    if to_self_hosted is not None and projected.get(to_self_hosted) is not None:
        marginal = projected[to_self_hosted]
        projected[f"{to_self_hosted}_amortised"] = None if gpu_monthly is None else marginal + gpu_monthly  # type: ignore[operator]
    steps = g.steps
    return {
        "count": g.tasks,
        "agentic_share": g.agentic_tasks / g.tasks,
        "grouped_by": {joined.value: g.joined.get(joined.value, 0) for joined in JOINED},
        "steps_per_task": {
            "mean": sum(steps) / len(steps),
            "p50": nearest_rank(steps, 0.5),
            "p90": nearest_rank(steps, 0.9),
        },
        "by_class": {
            label: {"tasks": tasks[label], "requests": sum(p.requests for k, p in g.parts.items() if k[0] is agentic)}
            for label, agentic in ((SINGLE_TURN, False), (AGENTIC, True))
        },
        "cost_per_task_usd": {name: None if usd is None else usd / g.tasks for name, usd in spend.items()},
        "cost_per_completed_task_usd": {
            name: policy.cost_per_completed_task_usd for name, policy in views[mid].items()
        },
        "projected_monthly_usd": projected,
        "requests_grouped": g.grouped,
        "notes": _notes(g, result, projected, a),
    }


def _task_mix(tally: Tally, g: Grouping, summary: dict[str, Any]) -> dict[tuple[str, str], Usage]:
    """Token sums by task class × pricing mode: logged usage as logged, estimates as the per-request view made
    them, spread over the task classes."""
    rates: dict[bool, tuple[float, float, float, float]] = {}
    for label in LABELS:
        buckets = [b for (lab, _mode), b in tally.buckets.items() if lab == label]
        estimated = sum(b.estimated for b in buckets)
        weight = sum(b.estimated_prompt for b in buckets)
        t = summary[label]
        left = (
            t["prompt_tokens"] - sum(b.prompt for b in buckets),
            t["cached_tokens"] - sum(b.cached for b in buckets),
            t["completion_tokens"] - sum(b.completion for b in buckets),
            t["reasoning_tokens"] - sum(b.reasoning for b in buckets),
        )
        rates[label == AGENTIC] = (
            left[0] / weight if weight else 0.0,
            left[1] / weight if weight else 0.0,
            left[2] / estimated if estimated else 0.0,
            left[3] / estimated if estimated else 0.0,
        )
    mix: dict[tuple[str, str], Usage] = {}
    for (task_agentic, request_agentic, mode), part in g.parts.items():
        key = (AGENTIC if task_agentic else SINGLE_TURN, mode)
        usage = mix.setdefault(key, Usage())
        add = _tokens(part, rates[request_agentic])
        usage.prompt_tokens += add[0]
        usage.cached_tokens += add[1]
        usage.completion_tokens += add[2]
        usage.reasoning_tokens += add[3]
    return mix


def _tokens(part: Bucket, rates: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    prompt_rate, cached_rate, completion_rate, reasoning_rate = rates
    return (
        part.prompt + round(part.estimated_prompt * prompt_rate),
        part.cached + round(part.estimated_prompt * cached_rate),
        part.completion + round(part.estimated * completion_rate),
        part.reasoning + round(part.estimated * reasoning_rate),
    )


def _notes(g: Grouping, result: dict[str, Any], projected: dict[str, float | None], a: Assumptions) -> list[str]:
    share, request_share = g.agentic_tasks / g.tasks, result["agentic_share"]
    notes = [
        f"{g.grouped:,} requests grouped into {g.tasks:,} tasks as the proxy groups them: a session or "
        "x-routetax-task name, the Responses chain, a history that continues an earlier request's, else a task of "
        "its own; a task is agentic when any of its steps is.",
        f"Agentic share {share:.1%} of tasks against {request_share:.1%} of requests: "
        + (
            "agent tasks take more steps than the rest, so they weigh more by request."
            if share < request_share
            else "the same by both counts."
            if share == request_share
            else "single-turn tasks take more steps than agent tasks here."
        ),
    ]
    mid_only, cheap_only = MID_ONLY.name(a), CHEAP_ONLY.name(a)
    dual, mini = projected.get("dual"), projected.get(mid_only) if mid_only else None
    if dual is not None and mini:
        notes.append(
            f"Routed by task (every step of an agentic task to {a.tier(MID_ONLY.routes['agentic']) or 'mini'}), "
            f"dual tier costs {_vs(dual, mini)} {mid_only}"
            + (
                f"; {cheap_only} {_vs(projected[cheap_only], mini)} it"
                if cheap_only and projected.get(cheap_only)
                else ""
            )
            + "."
        )
    if g.reordered:
        notes.append(
            f"{g.reordered:,} requests were read after requests logged later than them: grouped in time order."
        )
    if g.untimed:
        notes.append(
            f"{g.untimed:,} requests carry no time: grouped in reading order after the timed request read before them, "
            "never ended by idleness."
        )
    if g.answered < g.grouped:
        notes.append(
            f"{g.grouped - g.answered:,} requests have no logged answer: a later request was taken as their "
            "continuation when its history starts with theirs (the prefix alone). That cannot tell an answer given "
            "elsewhere from theirs, and two conversations that open with the same request stay two tasks but may "
            "swap their first requests."
        )
    if g.not_grouped:
        notes.append(
            f"{g.not_grouped:,} requests past the first {TaskGroups.MAX_HELD:,} were not grouped: the per-task figures "
            "are those of the requests grouped, put on the same monthly volume."
        )
    notes.append(
        "Success rates per task are the published ones (benchmarks), as in the per-request view; outcomes of your own "
        "tasks are what routetax measures in the request path."
    )
    return notes


def _vs(value: float | None, against: float) -> str:
    if value is None:
        return "n/a against"
    change = value / against - 1
    return f"{-change:.1%} less than" if change < 0 else f"{change:.1%} more than"
