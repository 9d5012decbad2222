"""The HTML report's charts, drawn here as inline SVG: no script, no library, nothing fetched.

A shared report is opened on machines without network access and kept for months; a page that pulls a
charting library from a CDN shows nothing there. Each chart is a small SVG whose marks carry the JSON's
figures verbatim in `data-*` attributes (`repr` of the float, as `--json` prints it), so a reader — or a
test in a real browser — can check the picture against the numbers. Shapes are plain: bars with
interval whiskers, a line with its interval band, stacked bars.
"""

from __future__ import annotations

from html import escape
from typing import Any

from metering.tax.audit_page import Bar, day_interval, policy_bars
from metering.tax.audit_text import _pct, _usd

WIDTH = 680
LABEL_W = 190  # left column: the bar's name
VALUE_W = 110  # right column: its figure
ROW_H = 30
COLOURS = {"input": "#4e79a7", "cached": "#a0cbe8", "output": "#f28e2b"}
TOKEN_PARTS = ("input", "cached", "output")  # uncached input, cached input, output (completion) tokens


def _attr(value: float | int | str | None) -> str:
    """A figure as an attribute value: floats as `repr` (what the JSON has), None as empty."""
    if value is None:
        return ""
    return escape(repr(value) if isinstance(value, float) else str(value), quote=True)


def _svg(height: int, label: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label, quote=True)}" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" class="chart">' + "".join(body) + "</svg>"
    )


def cost_chart(r: dict[str, Any], labels: dict[str, str]) -> str | None:
    """Monthly cost per policy: one bar each, the dual tier's overhead band as a whisker."""
    bars = policy_bars(r)
    if not bars:
        return None
    top = max(max(bar.usd, bar.high or 0.0) for bar in bars) or 1.0
    span = WIDTH - LABEL_W - VALUE_W
    body = []
    for i, bar in enumerate(bars):
        y = 10 + i * ROW_H
        body.append(_cost_bar(bar, labels.get(bar.policy, bar.policy), y, span / top))
    return _svg(20 + len(bars) * ROW_H, "projected monthly cost by policy", body)


def _cost_bar(bar: Bar, label: str, y: int, per_usd: float) -> str:
    width = max(bar.usd * per_usd, 1.0)
    parts = [
        f'<g class="bar" data-policy="{_attr(bar.policy)}" data-usd="{_attr(bar.usd)}" '
        f'data-low="{_attr(bar.low)}" data-high="{_attr(bar.high)}">',
        f"<title>{escape(label)}: {escape(_usd(bar.usd))} a month"
        + (f" ({escape(_usd(bar.low))}–{escape(_usd(bar.high))})" if bar.low is not None else "")
        + "</title>",
        f'<text x="{LABEL_W - 8}" y="{y + 15}" text-anchor="end" class="label">{escape(label)}</text>',
        f'<rect x="{LABEL_W}" y="{y + 3}" width="{width:.2f}" height="18" fill="#4e79a7"/>',
    ]
    if bar.low is not None and bar.high is not None:
        x0, x1, mid = LABEL_W + bar.low * per_usd, LABEL_W + bar.high * per_usd, y + 12
        parts.append(
            f'<path class="interval" d="M{x0:.2f} {mid}H{x1:.2f}M{x0:.2f} {mid - 6}V{mid + 6}M{x1:.2f} {mid - 6}'
            f'V{mid + 6}" stroke="#222" stroke-width="1.5" fill="none"/>'
        )
    right = LABEL_W + max(width, (bar.high or 0.0) * per_usd) + 6
    parts.append(f'<text x="{right:.2f}" y="{y + 15}" class="value">{escape(_usd(bar.usd))}</text></g>')
    return "".join(parts)


def share_chart(r: dict[str, Any]) -> str | None:
    """The agentic share per day with its interval band, and the break-even share as a dashed line."""
    days = r.get("per_day") or []
    if not days:
        return None
    height, left, right, top, bottom = 260, 48, 20, 16, 40
    plot_w, plot_h = WIDTH - left - right, height - top - bottom

    def x(i: int) -> float:
        return left + (plot_w / 2 if len(days) == 1 else plot_w * i / (len(days) - 1))

    def y(share: float) -> float:
        return top + plot_h * (1 - share)

    body = []
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        body.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{y(tick):.2f}" y2="{y(tick):.2f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.2f}" text-anchor="end" class="axis">{tick:.0%}</text>'
        )
    intervals = [day_interval(day) for day in days]
    if all(interval is not None for interval in intervals):
        upper = " ".join(f"{x(i):.2f},{y(iv[1]):.2f}" for i, iv in enumerate(intervals) if iv)
        lower = " ".join(f"{x(i):.2f},{y(iv[0]):.2f}" for i, iv in reversed(list(enumerate(intervals))) if iv)
        body.append(f'<polygon class="band" points="{upper} {lower}" fill="#4e79a7" fill-opacity="0.2"/>')
    line = " ".join(f"{x(i):.2f},{y(day['agentic_share']):.2f}" for i, day in enumerate(days))
    body.append(f'<polyline points="{line}" fill="none" stroke="#4e79a7" stroke-width="2"/>')
    for i, (day, interval) in enumerate(zip(days, intervals, strict=True)):
        low, high = interval if interval is not None else (None, None)
        tip = f"{day['day']}: {_pct(day['agentic_share'])} of {day['requests']:,}"
        if interval is not None:
            tip += f" (95%: {_pct(low)}–{_pct(high)})"
        body.append(
            f'<circle class="day" data-day="{_attr(day["day"])}" data-share="{_attr(day["agentic_share"])}" '
            f'data-low="{_attr(low)}" data-high="{_attr(high)}" data-requests="{_attr(day["requests"])}" '
            f'cx="{x(i):.2f}" cy="{y(day["agentic_share"]):.2f}" r="3.5" fill="#4e79a7"><title>{escape(tip)}</title>'
            "</circle>"
        )
    break_even = r.get("break_even_agentic_share")
    if isinstance(break_even, float):
        body.append(
            f'<line class="break-even" data-share="{_attr(break_even)}" x1="{left}" x2="{WIDTH - right}" '
            f'y1="{y(break_even):.2f}" y2="{y(break_even):.2f}" stroke="#e15759" stroke-dasharray="6 4"/>'
            f'<text x="{WIDTH - right}" y="{y(break_even) - 5:.2f}" text-anchor="end" class="axis">'
            f"break-even {_pct(break_even)}</text>"
        )
    body.append(
        f'<text x="{left}" y="{height - 12}" class="axis">{escape(days[0]["day"])}</text>'
        f'<text x="{WIDTH - right}" y="{height - 12}" text-anchor="end" class="axis">{escape(days[-1]["day"])}</text>'
    )
    return _svg(height, "agentic share per day with its interval", body)


def token_parts(t: dict[str, Any]) -> dict[str, int]:
    """A class's tokens as the chart splits them: uncached input, cached input, output."""
    return {
        "input": t["prompt_tokens"] - t["cached_tokens"],
        "cached": t["cached_tokens"],
        "output": t["completion_tokens"],
    }


def token_chart(r: dict[str, Any]) -> str | None:
    """Each class's tokens as one stacked bar: uncached input, cached input, output."""
    classes = [(label, token_parts(t)) for label, t in r["tokens"].items() if t["requests"]]
    if not classes:
        return None
    top = max(sum(parts.values()) for _, parts in classes) or 1
    span = WIDTH - LABEL_W - VALUE_W
    body = []
    for i, (label, parts) in enumerate(classes):
        y = 10 + i * ROW_H
        body.append(
            f'<g class="tokens" data-class="{_attr(label)}">'
            f'<text x="{LABEL_W - 8}" y="{y + 15}" text-anchor="end" class="label">{escape(label)}</text>'
        )
        x = float(LABEL_W)
        for part in TOKEN_PARTS:
            width = parts[part] * span / top
            body.append(
                f'<rect class="part" data-part="{part}" data-tokens="{parts[part]}" x="{x:.2f}" y="{y + 3}" '
                f'width="{width:.2f}" height="18" fill="{COLOURS[part]}"><title>{escape(label)} {part}: '
                f"{parts[part]:,} tokens</title></rect>"
            )
            x += width
        body.append(f'<text x="{x + 6:.2f}" y="{y + 15}" class="value">{sum(parts.values()):,}</text></g>')
    legend_y = 20 + len(classes) * ROW_H
    for j, part in enumerate(TOKEN_PARTS):
        name = {"input": "input (uncached)", "cached": "cached input", "output": "output"}[part]
        lx = LABEL_W + j * 150
        body.append(
            f'<rect x="{lx}" y="{legend_y}" width="12" height="12" fill="{COLOURS[part]}"/>'
            f'<text x="{lx + 16}" y="{legend_y + 11}" class="axis">{name}</text>'
        )
    return _svg(legend_y + 24, "token mix by class", body)
