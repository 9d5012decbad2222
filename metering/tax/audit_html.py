"""`routetax audit --html FILE`: the audit as one self-contained HTML file a team can mail or attach.

Inline CSS and inline SVG only (metering/tax/audit_charts.py): no script, no font, no stylesheet or
image fetched, so the page shows the same offline, in a mail client's preview or years later. Its
content is the page of metering/tax/audit_page.py — the same sections, in the same order, as the
Markdown — with the charts where a section names one, and the whole JSON answer embedded (a
`<script type="application/json">` block a browser never runs) so a reader can take the figures
back out exactly.
"""

from __future__ import annotations

from html import escape
from typing import Any

import orjson

from metering.tax.audit_charts import cost_chart, share_chart, token_chart
from metering.tax.audit_page import POLICY_LABELS, Chart, Section, Table, sections

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;max-width:960px;margin:2em auto;
padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0}td,th{padding:.25em .7em;border-bottom:1px solid #eee;text-align:left;
vertical-align:top}th{background:#f6f6f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
section#bottom_line{background:#f3f7fb;border-left:4px solid #4e79a7;padding:.2em 1em .6em}
section#bottom_line p{font-size:1.15em;font-weight:600}
svg.chart{max-width:100%;height:auto}svg text{font:12px system-ui,sans-serif;fill:#333}svg text.value{fill:#111}
.muted{color:#666;font-size:.9em}
"""


def render_html(r: dict[str, Any]) -> str:
    """The whole page."""
    body = [
        "<h1>routetax audit</h1>",
        f'<p class="muted">{escape(_subtitle(r))}</p>',
    ]
    for section in sections(r):
        body.append(_section(section, r))
    figures = orjson.dumps(r, option=orjson.OPT_NON_STR_KEYS).decode().replace("</", "<\\/")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>routetax audit</title>"
        f"<style>{STYLE}</style></head><body>"
        + "".join(body)
        + f'<script type="application/json" id="audit-json">{figures}</script>'
        + "</body></html>\n"
    )


def _subtitle(r: dict[str, Any]) -> str:
    span = r.get("time_range")
    when = f"{span['first']} to {span['last']}" if span else "no timestamps"
    formats = ", ".join(f"{fmt} {n:,}" for fmt, n in (r.get("formats") or {}).items()) or "none"
    return f"{r.get('requests', 0):,} requests from {r.get('lines', 0):,} lines; {when}; formats: {formats}"


def _section(section: Section, r: dict[str, Any]) -> str:
    parts = [f'<section id="{escape(section.key, quote=True)}"><h2>{escape(section.title)}</h2>']
    parts += [f"<p>{escape(line)}</p>" for line in section.lines]
    if section.chart is not None:
        chart = _chart(section.chart, r)
        if chart is not None:
            parts.append(f'<figure data-chart="{section.chart.value}">{chart}</figure>')
    parts += [_table(table) for table in section.tables]
    if section.bullets:
        parts.append("<ul>" + "".join(f"<li>{escape(item)}</li>" for item in section.bullets) + "</ul>")
    return "".join(parts) + "</section>"


def _chart(chart: Chart, r: dict[str, Any]) -> str | None:
    if chart is Chart.COST:
        return cost_chart(r, POLICY_LABELS)
    if chart is Chart.SHARE:
        return share_chart(r)
    return token_chart(r)


def _table(table: Table) -> str:
    head = "" if not any(table.headers) else "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in table.headers) + "</tr>"
    rows = "".join(
        "<tr>" + "".join(f"<td{_numeric(cell)}>{escape(cell)}</td>" for cell in row) + "</tr>" for row in table.rows
    )
    return f"<table>{head}{rows}</table>"


def _numeric(cell: str) -> str:
    text = cell.lstrip("$+-").replace(",", "").replace(".", "").rstrip("%")
    return ' class="n"' if text.isdigit() else ""
