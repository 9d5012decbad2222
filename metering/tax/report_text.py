"""The routing-tax report as text: the tables `routetax report` and `routetax demo` print.

The report is the dictionary `metering.tax.report.build_report` returns (the same one
`--json` and `GET /v1/routing-tax` give); this only lays it out for a reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from metering.tax.figures import Level, TaskVerdict, policies_from_json
from metering.tax.policies_by_task import policy_label
from metering.tax.report import TREND_MIN_SPAN_S
from metering.tax.task_text import print_task_section


def print_report(report: dict[str, Any]) -> None:
    """The report as tables a FinOps reader can scan: overhead, cells, policies, verdict."""
    m, model, a = report["measured"], report["model"], report["assumptions"]
    task_verdict = TaskVerdict.from_json(report["verdict"]) if "cheapest" in report["verdict"] else None
    if task_verdict is not None and task_verdict.bottom_line:
        print(task_verdict.bottom_line, end="\n\n")  # the answer first, in one sentence

    def pct(value: float | None) -> str:
        return "not measured" if value is None else f"{value:.1%}"

    def usd(value: float | None) -> str:
        return "not measured" if value is None else f"${value:.6f}"

    def interval(ci: Sequence[float | None], fmt: str) -> str:
        return "" if ci[0] is None or ci[1] is None else f"[{ci[0]:{fmt}}, {ci[1]:{fmt}}]"

    print(
        f"{m['requests']} requests ({m['explored_requests']} explored, {m['pinned_requests']} pinned), "
        f"agentic share {pct(m['agentic_share'])}, feedback on {pct(m['feedback_coverage'])} of them"
    )
    gpu = ", ".join(f"{t} ${v}/GPU-hour" for t, v in a["gpu_hour_usd"].items()) or "no gpu_hour_usd configured"
    print(
        f"assumptions: router ${a['router_hour_usd']}/hour ({a['hours_charged']:.4f} h charged), classifier "
        f"${a['classifier_usd_per_request']}/request, failure cost ${a['failure_cost_usd']}, {gpu}; "
        "requests without feedback count as successes in the request-level cells"
        + ("; a task's unknown outcome never does" if "tasks" in m else "")
        + (
            "; judged tasks are a random sample (report.outcomes_are_a_sample)"
            if a.get("outcomes_are_a_sample")
            else ""
        )
    )
    spend, low, high = m["spend"], *model["routing_overhead"]
    print(f"\nOVERHEAD — what routing adds over serving each request once where it ended (model {low:.0%}–{high:.0%})")
    print(f"  {'actual spend':<22}{usd(spend['actual']):>16}")
    print(f"  {'base spend':<22}{usd(spend['base']):>16}")
    print(f"  {'routing overhead':<22}{pct(m['routing_overhead']):>16}")
    for part, value in m["overhead_parts_usd"].items():
        print(f"    {part.replace('_', ' '):<20}{usd(value):>16}{pct(m['overhead_parts'][part]):>14}")
    print_task_section(report)
    print("\nCELLS — requests first routed to a tier (success: 2xx, not degraded, no failure feedback)")
    print(
        f"  {'tier':<6}{'class':<13}{'requests':>9}{'explored':>9}{'success':>9}  {'95% interval':<16}"
        f"{'published':>10}{'feedback':>10}{'$/request':>12}{'$/completed':>13}"
    )
    for cell in m["cells"]:
        if not cell["requests"]:
            print(f"  {cell['tier']:<6}{cell['class']:<13}{0:>9}{'':>9}{'not measured':>12}")
            continue
        published = cell["published_success_rate"]
        completed = cell["cost_per_completed_task_usd"]
        print(
            f"  {cell['tier']:<6}{cell['class']:<13}{cell['requests']:>9}{cell['explored']:>9}"
            f"{cell['success_rate']:>9.3f}  {interval(cell['success_ci'], '.3f'):<16}"
            f"{'' if published is None else f'{published:.3f}':>10}{cell['feedback_coverage']:>10.0%}"
            f"{cell['cost_per_request_usd']:>12.6f}{'' if completed is None else f'{completed:.6f}':>13}"
        )
    print(
        "\nPOLICIES BY REQUEST — cost per completed task, each single-tier policy on its tier's own requests "
        "(95% interval from the cells' success intervals)"
    )
    for name, policy in policies_from_json(m["policies"], Level.REQUEST).items():
        label = policy_label(name)
        if not policy.measured:
            estimate = policy.estimate_usd
            note = f"; estimate (repriced at published rates, not measured) ${estimate:.6f}" if estimate else ""
            print(f"  {label:<20}{'not measured':>14}  missing {', '.join(policy.missing_cells)}{note}")
            continue
        marginal = policy.marginal_cost_per_completed_task_usd
        extra = f"  marginal (GPU not counted) {usd(marginal)}" if marginal is not None else ""
        print(f"  {label:<20}{usd(policy.cost_per_completed_task_usd):>14}  {interval(policy.ci, '.6f'):<28}{extra}")
    mid = (m.get("mid_policy") or "mid_only").replace("_", "-")  # everything to the mid tier: mini-only by default
    print(f"  savings vs {mid} per completed task: {pct(m['savings_vs_mini'])}")
    print(f"  (token view, 1 − actual ÷ {mid} repricing: {pct(m['savings_vs_mini_tokens'])})")
    if spend["exploration"] is not None and m["explored_requests"] and "tasks" not in m:
        print(f"  exploration spend beyond routing them: {usd(spend['exploration'])} (charged to no policy)")
    if spend.get("judge") and "tasks" not in m:
        print(f"  judge spend, grading outcomes: {usd(spend['judge'])} (measurement, charged to no policy)")
    be = m["break_even_agentic_share"]
    by_request = "not measured" if be is None else f"{be:.3f} {interval(m['break_even_ci'], '.3f')}"
    published = model["break_even_agentic_share"]
    by_task = (m.get("tasks") or {}).get("break_even")
    if by_task is None:
        print(
            f"\nbreak-even agentic share: measured {by_request} (95%, bootstrap over requests), model {published:.3f}"
        )
    else:
        share = by_task["share"]
        measured_be = "not measured" if share is None else f"{share:.3f} {interval(by_task['ci'], '.3f')}"
        print(
            f"\nbreak-even agentic share: measured {measured_be} (95%, bootstrap over tasks, "
            f"{by_task['resamples']} resamples), model {published:.3f}; by request {by_request}"
        )
    trend, weeks = m.get("agentic_share_trend_per_week"), m.get("weeks_to_break_even")
    if trend is not None:
        crossing = f", crossing break-even in {weeks:.1f} weeks" if weeks is not None else ""
        print(f"agentic share trend: {trend:+.3f} per week{crossing}")
    else:
        print(f"agentic share trend: not measured (needs {TREND_MIN_SPAN_S // 3600:.0f} h of traffic in the window)")
    latency = m["latency_overhead_ms"]
    if latency["p50"] is not None:
        print(f"latency overhead: p50 {latency['p50']:.3f} ms, p99 {latency['p99']:.3f} ms")
    verdict = report["verdict"]
    if task_verdict is not None:
        cheapest, dual = task_verdict.cheapest, task_verdict.dual_vs_mini
        print(f"\nverdict: cheapest {cheapest}, dual vs {mid} {dual} (per completed task)")
        print(f"verdict by request (requests without feedback as successes): {verdict['decision']} — {verdict['text']}")
    else:
        print(f"\nverdict: {verdict['decision']} — {verdict['text']}")
