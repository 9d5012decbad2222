"""The audit's per-task view on the terminal page: the lines `metering.tax.audit_text` shows when `tasks` is there."""

from __future__ import annotations

import textwrap
from typing import Any

WIDTH = 110
SHOWN = ("nano_only", "mini_only", "dual", "agentic_to_qwen")
LABELS = {"nano_only": "nano only", "mini_only": "mini only", "dual": "dual tier", "agentic_to_qwen": "agentic to Qwen"}


def _usd(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:.4f}"


def task_lines(t: dict[str, Any] | None, request_share: float) -> list[str]:
    """The per-task lines beside the per-request figures (none when nothing was grouped)."""
    if not t:
        return []
    joined = ", ".join(f"{how.replace('_', ' ')} {n:,}" for how, n in t["grouped_by"].items())
    steps = t["steps_per_task"]
    out = [
        f"tasks                 {t['count']:,} tasks from {t['requests_grouped']:,} requests; "
        f"steps per task mean {steps['mean']:.1f}, p50 {steps['p50']:g}, p90 {steps['p90']:g}",
        f"  joined by           {joined}",
        f"  agentic share       {t['agentic_share']:.1%} of tasks ({request_share:.1%} of requests)",
        "  cost per task       (and per month, at the volume above)",
        *(f"    {_row(t, name)}" for name in SHOWN if name in t["cost_per_task_usd"]),
    ]
    for note in t["notes"]:
        out.extend(textwrap.wrap(note, WIDTH, initial_indent="  - ", subsequent_indent="    ", break_on_hyphens=False))
    return out


def _row(t: dict[str, Any], name: str) -> str:
    per_task, monthly = t["cost_per_task_usd"][name], t["projected_monthly_usd"].get(name)
    return f"{LABELS.get(name, name):<18} {_usd(per_task):>10}  {_usd(monthly):>14}"
