"""The decision's lines on the audit's terminal page: the bottom line first, the share's interval, the estimates,
and the sensitivity table. Each reads the JSON dict and renders nothing for a key that is absent."""

from __future__ import annotations

import textwrap
from typing import Any

from metering.tax.audit_decision import usd
from metering.tax.audit_estimates import estimates_text

NO_REQUESTS = "No requests read: nothing to decide, no bottom line."
WIDTH = 110  # the page's (metering/tax/audit_text.py)


def _wrapped(text: str, rest: str = "  ") -> list[str]:
    return textwrap.wrap(text, WIDTH, subsequent_indent=rest, break_on_hyphens=False)


def bottom_line(r: dict[str, Any]) -> list[str]:
    """The page's first line(s): the one decision, or why there is none."""
    if not r.get("requests"):
        return [NO_REQUESTS]
    line = r.get("bottom_line")
    return [] if line is None else _wrapped(line["text"])


def share_interval(r: dict[str, Any]) -> list[str]:
    interval = r.get("agentic_share_interval")
    if interval is None:
        return []
    return _wrapped(
        f"  {interval['level']:.0%} interval {interval['low']:.1%}–{interval['high']:.1%}: the logs as a sample, and "
        "the classifier's error on its held-out captures (how: agentic_share_interval.method in --json)",
        "    ",
    )


def estimates(r: dict[str, Any]) -> list[str]:
    found = r.get("estimates")
    text = estimates_text(found) if found else None
    return [] if text is None else [text]


def sensitivity(r: dict[str, Any]) -> list[str]:
    cells = r.get("sensitivity")
    line = r.get("bottom_line")
    if not cells or line is None:
        return []
    out = _wrapped(
        f"sensitivity           the decision, and what {line['deploy']} saves against {line['against']} a month, "
        "were answers shorter or longer and prompts cached less or more:",
        "                      ",
    )
    caches = list(dict.fromkeys(cell["cache_share"] for cell in cells))
    header = "".join(f"{('cached ' + (c if isinstance(c, str) else f'{c:.0%}')):>26}" for c in caches)
    out.append(f"  completion tokens{header}")
    for scale in dict.fromkeys(cell["output_scale"] for cell in cells):
        row = [cell for cell in cells if cell["output_scale"] == scale]
        shown = "".join(f"{cell['verdict'] + ' ' + usd(cell['savings_usd_month']):>26}" for cell in row)
        out.append(f"  ×{scale:<16g}{shown}")
    survives = r.get("verdict_survives")
    out.append(
        f"  the decision {'survives every cell' if survives else 'does not survive every cell'}; the bottom line's "
        "range also spans the agentic share's interval"
    )
    return [*out, ""]
