"""The breakdowns on the terminal page: a few lines per dimension (all of them in --json, --markdown, --html)."""

from __future__ import annotations

from typing import Any

from metering.tax.audit_text import _pct, _usd

SHOWN = 5


def breakdown_lines(r: dict[str, Any]) -> list[str]:
    """`by team` ... lines, or none when the logs name no team, key, model or session (or only one of each)."""
    out: list[str] = []
    for dimension, rows in (r.get("breakdowns") or {}).items():
        if len(rows) < 2:  # one team, one model: the whole page is its breakdown
            continue
        out.append(f"by {dimension} (requests, agentic share; a month: dual / mini only, logged spend):")
        for row in rows[:SHOWN]:
            projected = row["projected_monthly_usd"]
            monthly = row.get("logged_spend_monthly_usd")
            spend = "" if monthly is None else f"  logged {_usd(monthly)}"
            line = (
                f"  {str(row['name'])[:28]:<28} {row['requests']:>8,}  {_pct(row['agentic_share']):>6}  "
                f"{_usd(projected.get('dual')):>10} / {_usd(projected.get('mini_only')):<10}{spend}"
            )
            out.append(line.rstrip())
        if len(rows) > SHOWN:
            out.append(f"  ... {len(rows) - SHOWN} more rows in --json, --markdown and --html")
    return out
