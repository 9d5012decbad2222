"""The audit as a person reads it: one screen, every figure named, assumptions at the end."""

from __future__ import annotations

import textwrap
from typing import Any

from metering.audit.formats import SKIP_HELP, Skip
from metering.tax import audit_decision_text as decision
from metering.tax.audit_tasks_text import task_lines

MAX_DAYS_SHOWN = 14
WIDTH = 110


def _wrapped(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False)


def _usd(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:.4f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _vs_mini(saving: float | None) -> str:
    if saving is None:
        return "n/a"
    return f"{saving:.1%} below mini" if saving >= 0 else f"{-saving:.1%} above mini"


def render(r: dict[str, Any]) -> str:
    out: list[str] = []
    add = out.append
    out.extend(decision.bottom_line(r))  # the one decision comes first
    apis = ", ".join(f"{api} {n:,}" for api, n in r["apis"].items())
    formats = ", ".join(f"{fmt} {n:,}" for fmt, n in r["formats"].items())
    add(f"routetax audit: {r['requests']:,} requests from {r['lines']:,} lines ({apis or 'none'}; formats: {formats})")
    if r["skipped"]:
        add(f"skipped {r['skipped']:,} lines:")
        for reason, n in r["skipped_reasons"].items():
            add(f"  {reason:<28} {n:>8,}  {SKIP_HELP[Skip(reason)]}")
    for problem in r["unreadable_files"]:
        add(f"  unreadable: {problem}")
    if r["unmatched_batch_inputs"]:
        add(f"  {r['unmatched_batch_inputs']:,} Batch input lines had no output line: counted with estimated tokens")
    if not r["requests"]:
        return "\n".join(out) + "\n"
    add("")
    reasons = ", ".join(f"{k} {v:,}" for k, v in r["classifier"]["reasons"].items())
    add(
        f"agentic share         {_pct(r['agentic_share'])} by routetax's classifier; "
        f'{_pct(r["grep_agentic_share"])} by grep "tool_use\\|function_call" on the same lines'
    )
    uncertain = r["classifier"]["below_confidence_0_6"]
    out.extend(_wrapped(f"decided by: {reasons}; {uncertain:,} below confidence 0.6", "  ", "    "))
    out.extend(decision.share_interval(r))
    days = r["per_day"]
    if days:
        add(f"per day (UTC)         {len(days)} days, {r['time_range']['first']} to {r['time_range']['last']}")
        shown = days if len(days) <= MAX_DAYS_SHOWN else days[-MAX_DAYS_SHOWN:]
        if len(shown) < len(days):
            add(f"  (last {MAX_DAYS_SHOWN} shown; all in --json)")
        for day in shown:
            add(
                f"  {day['day']}  {day['requests']:>8,} requests  agentic {_pct(day['agentic_share']):>6}  "
                f"grep {_pct(day['grep_agentic_share']):>6}"
            )
    trend = r["trend"]
    if trend["available"]:
        line = f"trend                 now {_pct(trend['share_now_fitted'])} (fitted), {trend['reading']}"
        out.extend(_wrapped(line, "", " " * 22))
    else:
        add(f"trend                 not available: {trend['why']}")
    add("")
    add("tokens per class      requests   prompt/req  completion/req  cached   source")
    for label, t in r["tokens"].items():
        if not t["requests"]:
            add(f"  {label:<19} {0:>8}")
            continue
        source = "logged usage"
        if t["estimated"]:
            completions = t["estimate"]["completion_from"]
            source = f"{t['estimated_requests']:,} estimated (tokenizer; completions: {completions})"
            if t["logged_requests"]:
                source = f"{t['logged_requests']:,} logged, " + source
        add(
            f"  {label:<19} {t['requests']:>8,}   {t['per_request']['prompt']:>10,.0f}  "
            f"{t['per_request']['completion']:>14,.0f}  {_pct(t['cached_share']):>6}   {source}"
        )
    add(f"cached share          {_pct(r['cached_share'])} of prompt tokens where the logs report it")
    for line in decision.estimates(r):
        out.extend(_wrapped(line, "", "    "))
    if r["logged_spend_usd"] is not None:
        add(f"logged spend          {_usd(r['logged_spend_usd'])} (what the gateway billed for these requests)")
    if r.get("logged_spend_monthly_usd") is not None:
        covers = r["logged_spend_requests"]
        part = "" if covers == r["requests"] else f" (the {covers:,} of {r['requests']:,} requests that logged one)"
        add(f"                      {_usd(r['logged_spend_monthly_usd'])} a month on the projection's basis{part}")
    add("")
    p, save = r["projected_monthly_usd"], r["savings_vs_mini"]
    add(f"projected monthly cost, {r['monthly_basis_text']}:")
    add(f"  nano only             {_usd(p['nano_only']):>14}  ({_vs_mini(save['nano_only'])})")
    add(f"  mini only             {_usd(p['mini_only']):>14}")
    add(
        f"  dual tier             {_usd(p['dual']):>14}  ({_vs_mini(save['dual'])}; overhead 0.15–0.20: "
        f"{_usd(p['dual_low'])}–{_usd(p['dual_high'])})"
    )
    qwen = r["qwen"]
    amortised = (
        f"; amortised {_usd(p['agentic_to_qwen_amortised'])} with {qwen['gpus']} GPU at ${qwen['gpu_hour_usd']:.2f}/h"
        if p["agentic_to_qwen_amortised"] is not None
        else "; amortised: give --gpu-hour-usd"
    )
    add(f"  agentic to Qwen       {_usd(p['agentic_to_qwen']):>14}  marginal{amortised}")
    corrected = r["success_corrected"]
    per_task = corrected["cost_per_completed_task_usd"]
    add("per completed task at the published success rates:")
    add(
        f"  nano only {_usd(per_task['nano_only'])}   mini only {_usd(per_task['mini_only'])}   "
        f"dual {_usd(per_task['dual'])}   agentic to Qwen n/a (no published rate)"
    )
    add(f"  cheapest per completed task: {corrected['cheapest_per_completed_task']}")
    out.extend(task_lines(r.get("tasks"), r["agentic_share"]))
    add("")
    out.extend(decision.sensitivity(r))  # followed by a blank line when there is a table
    add("context (not the decision):")
    add(f"verdict               {r['verdict']}  (the published verdict table at {_pct(r['agentic_share'])} agentic)")
    low, high = r["break_even_band"]
    add(
        f"break-even share      {_pct(r['break_even_agentic_share'])} (band {_pct(low)}–{_pct(high)}): "
        f"{r['calculator_verdict']} by the calculator"
    )
    add(
        f"                      priced with these logs' tokens {_pct(r['break_even_logs_priced'])}, "
        f"per completed task {_pct(r['break_even_success_corrected'])}"
    )
    from metering.tax.audit_breakdown_text import breakdown_lines  # imported here: it formats with this module

    out.extend(breakdown_lines(r))
    add("what would change it:")
    for note in r["what_would_change_it"]:
        out.extend(_wrapped(note, "  - ", "    "))
    add("assumptions:")
    for note in r["assumptions"]:
        out.extend(_wrapped(note, "  - ", "    "))
    return "\n".join(out) + "\n"
