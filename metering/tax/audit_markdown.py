"""`routetax audit --markdown [FILE]`: the audit as Markdown, for a pull request, an issue or a wiki page.

The same sections, in the same order, as the HTML page (metering/tax/audit_page.py); tables as
GitHub-flavoured pipe tables. No charts: Markdown renderers do not draw inline SVG alike, and the
tables hold every figure the charts show.
"""

from __future__ import annotations

from typing import Any

from metering.tax.audit_page import Section, Table, sections


def render_markdown(r: dict[str, Any]) -> str:
    """The whole page."""
    out = ["# routetax audit", ""]
    for section in sections(r):
        out += _section(section)
    return "\n".join(out).rstrip() + "\n"


def _section(section: Section) -> list[str]:
    out = [f"## {section.title}", ""]
    for line in section.lines:
        out += [_escape(line), ""]
    for table in section.tables:
        out += [*_table(table), ""]
    if section.bullets:
        out += [f"- {_escape(item)}" for item in section.bullets] + [""]
    return out


def _table(table: Table) -> list[str]:
    headers = [_cell(h) for h in table.headers]
    rows = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    rows += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return rows


def _cell(text: str) -> str:
    return _escape(text).replace("|", "\\|").replace("\n", " ")


def _escape(text: str) -> str:
    """Keep Markdown from reading a figure as markup: `*` and `<` are taken literally (an `_` inside a word, as in
    `nano_only`, is no emphasis in GitHub-flavoured Markdown)."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("<", "&lt;")
