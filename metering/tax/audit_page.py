"""The audit's shareable page as data: which figures of the JSON answer are shown, in which order, in words.

The Markdown and HTML renderers (metering/tax/audit_markdown.py, audit_html.py) both draw this one
list of sections, so they cannot disagree on what the report says; the HTML adds its charts
(metering/tax/audit_charts.py) where a section names one. Everything here is read from the dict
`routetax audit --json` prints — the one source of truth — and a key another part of the audit adds
(`bottom_line`, `sensitivity`, `tasks`, `estimates`, intervals, `breakdowns`) is shown when present.
The bottom line comes first when there is one: it is what a reader shares.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from metering.audit.formats import SKIP_HELP, Skip
from metering.tax.audit_text import _pct, _usd

POLICY_LABELS = {
    "nano_only": "nano only",
    "mini_only": "mini only",
    "dual": "dual tier",
    "agentic_to_qwen": "agentic to Qwen (marginal)",
    "agentic_to_qwen_amortised": "agentic to Qwen (amortised)",
}
BAND_KEYS = ("dual_low", "dual_high")  # the dual policy's overhead band: drawn as its interval, not as bars


class Chart(StrEnum):
    """The charts a section can carry (drawn by the HTML page only)."""

    COST = "cost_by_policy"
    SHARE = "share_over_time"
    TOKENS = "token_mix"


@dataclass
class Table:
    headers: tuple[str, ...]
    rows: list[tuple[str, ...]]


@dataclass
class Section:
    key: str  # the JSON key (or group of keys) it shows: an anchor for the page
    title: str
    lines: list[str] = field(default_factory=list)  # paragraphs
    bullets: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    chart: Chart | None = None


@dataclass(frozen=True)
class Bar:
    """One policy's monthly cost and, when the JSON has one, its interval."""

    policy: str
    usd: float
    low: float | None = None
    high: float | None = None


def policy_bars(r: dict[str, Any]) -> list[Bar]:
    """The projected monthly cost per policy, with the dual tier's overhead band as its interval."""
    projected: dict[str, float | None] = r.get("projected_monthly_usd") or {}
    bars = []
    for policy, usd in projected.items():
        if usd is None or policy in BAND_KEYS:
            continue
        low = high = None
        if policy == "dual":
            low, high = projected.get("dual_low"), projected.get("dual_high")
        bars.append(Bar(policy, usd, low, high))
    return bars


def day_interval(day: dict[str, Any]) -> tuple[float, float] | None:
    interval = day.get("interval")
    if not isinstance(interval, dict):
        return None
    return interval["low"], interval["high"]


def sections(r: dict[str, Any]) -> list[Section]:
    """The page, top to bottom."""
    if not r.get("requests"):
        return [_nothing_read(r), *_reading(r)]
    out = []
    if r.get("bottom_line"):
        out.append(_bottom_line(r["bottom_line"]))
    out += [_answer(r), _cost(r), _share(r), _tokens(r)]
    if r.get("tasks"):
        out.append(_generic("tasks", "Tasks", r["tasks"]))
    if r.get("sensitivity"):
        out.append(_sensitivity(r))
    if r.get("breakdowns"):
        out.append(_breakdowns(r["breakdowns"]))
    if r.get("estimates"):
        out.append(_generic("estimates", "Estimates", r["estimates"]))
    out.append(_per_task(r))
    out.append(Section("what_would_change_it", "What would change it", bullets=list(r["what_would_change_it"])))
    out.append(Section("assumptions", "Assumptions", bullets=list(r["assumptions"])))
    return out + _reading(r)


def _bottom_line(b: dict[str, Any]) -> Section:
    section = Section("bottom_line", "Bottom line", lines=[str(b.get("text", ""))])
    rows = []
    for key, value in b.items():
        if key == "text":
            continue
        # `low` and `high` bound the saving: dollars a month, like it
        rows.append((_label(key), _value(f"saves_usd_{key}" if key in ("low", "high") else key, value)))
    if rows:
        section.tables.append(Table(("", ""), rows))
    return section


def _answer(r: dict[str, Any]) -> Section:
    share = f"{_pct(r['agentic_share'])} agentic by routetax's classifier"
    interval = r.get("agentic_share_interval")
    if isinstance(interval, dict):
        level = interval.get("level")
        share += (
            f" ({_pct(interval['low'])}–{_pct(interval['high'])}"
            + (f" at {level:.0%}" if isinstance(level, float) else "")
            + (", the classifier's error included" if interval.get("includes_classifier_error") else "")
            + ")"
        )
    share += f"; {_pct(r['grep_agentic_share'])} by the naive grep on the same lines"
    low, high = r["break_even_band"]
    rows = [
        ("requests read", f"{r['requests']:,} of {r['lines']:,} lines ({r['skipped']:,} skipped)"),
        ("agentic share", share),
        ("verdict (published table)", str(r["verdict"])),
        (
            "break-even share",
            f"{_pct(r['break_even_agentic_share'])} (band {_pct(low)}–{_pct(high)}): {r['calculator_verdict']}",
        ),
        ("volume", r["monthly_basis_text"]),
    ]
    if r.get("logged_spend_usd") is not None:
        spend = f"{_usd(r['logged_spend_usd'])} in the logs"
        if r.get("logged_spend_monthly_usd") is not None:
            spend += f", {_usd(r['logged_spend_monthly_usd'])} a month on the projections' basis"
            if r.get("logged_spend_requests", r["requests"]) != r["requests"]:
                spend += f" ({r['logged_spend_requests']:,} of {r['requests']:,} requests logged one)"
        rows.append(("logged spend", spend))
    return Section("answer", "The answer", tables=[Table(("", ""), rows)])


def _cost(r: dict[str, Any]) -> Section:
    saving = r.get("savings_vs_mini") or {}
    rows = []
    for bar in policy_bars(r):
        vs = saving.get(bar.policy)
        rows.append(
            (
                _policy(bar.policy),
                _usd(bar.usd),
                "" if bar.low is None else f"{_usd(bar.low)}–{_usd(bar.high)}",
                "" if vs is None else (f"{vs:.1%} below mini" if vs >= 0 else f"{-vs:.1%} above mini"),
            )
        )
    lines = [f"Projected monthly cost, {r['monthly_basis_text']}."]
    if "dual_low" in (r.get("projected_monthly_usd") or {}):
        lines.append("The dual tier's interval is the routing overhead's published band (0.15–0.20).")
    table = Table(("policy", "per month", "interval", "against mini only"), rows)
    return Section("projected_monthly_usd", "Cost by policy", lines=lines, tables=[table], chart=Chart.COST)


def _share(r: dict[str, Any]) -> Section:
    section = Section("per_day", "Agentic share over time", chart=Chart.SHARE)
    days = r.get("per_day") or []
    if not days:
        section.lines.append("The lines carry no timestamps: no share over time.")
        return section
    trend = r["trend"]
    if trend.get("available"):
        text = f"Trend {trend['points_per_week']:+.2f} points a week"
        interval = trend.get("interval")
        if isinstance(interval, dict):
            text += f" ({interval['low']:+.2f} to {interval['high']:+.2f})"
        crossing = trend.get("crossing") or "flat within its interval, no crossing announced"
        section.lines.append(f"{text}, now {_pct(trend['share_now_fitted'])} (fitted): {crossing}.")
    else:
        section.lines.append(f"Trend not available: {trend['why']}.")
    section.lines.append("Each day's interval is its 95% Wilson interval over that day's requests.")
    rows = []
    for day in days:
        interval = day_interval(day)
        rows.append(
            (
                day["day"],
                f"{day['requests']:,}",
                _pct(day["agentic_share"]),
                "" if interval is None else f"{_pct(interval[0])}–{_pct(interval[1])}",
                _pct(day["grep_agentic_share"]),
            )
        )
    section.tables.append(Table(("day (UTC)", "requests", "agentic", "95% interval", "grep"), rows))
    return section


def _tokens(r: dict[str, Any]) -> Section:
    rows = []
    for label, t in r["tokens"].items():
        source = "logged usage"
        if t["estimated"]:
            source = f"{t['estimated_requests']:,} estimated ({t['estimate']['completion_from']})"
        rows.append(
            (
                label,
                f"{t['requests']:,}",
                f"{t['prompt_tokens'] - t['cached_tokens']:,}",
                f"{t['cached_tokens']:,}",
                f"{t['completion_tokens']:,}",
                f"{t['reasoning_tokens']:,}",
                source,
            )
        )
    headers = ("class", "requests", "input (uncached)", "cached input", "output", "of which reasoning", "source")
    lines = [f"Cached share of prompt tokens where the logs report it: {_pct(r.get('cached_share'))}."]
    return Section("tokens", "Token mix", lines=lines, tables=[Table(headers, rows)], chart=Chart.TOKENS)


def _sensitivity(r: dict[str, Any]) -> Section:
    section = _generic("sensitivity", "Sensitivity", r["sensitivity"])
    survives = r.get("verdict_survives")
    if survives is None and isinstance(r["sensitivity"], dict):
        survives = r["sensitivity"].get("verdict_survives")
    if survives is not None:
        section.lines.insert(0, "The verdict survives every row." if survives else "The verdict does not survive.")
    return section


def _breakdowns(breakdowns: dict[str, list[dict[str, Any]]]) -> Section:
    section = Section("breakdowns", "Breakdowns")
    for dimension, rows in breakdowns.items():
        policies = list(dict.fromkeys(p for row in rows for p in (row.get("projected_monthly_usd") or {})))
        headers = (
            dimension,
            "requests",
            "agentic",
            "logged spend / month",
            *(_policy(p) + " / month" for p in policies),
        )
        table_rows = [
            (
                str(row["name"]),
                f"{row['requests']:,}",
                _pct(row.get("agentic_share")),
                _usd(row.get("logged_spend_monthly_usd")),
                *(_usd((row.get("projected_monthly_usd") or {}).get(p)) for p in policies),
            )
            for row in rows
        ]
        section.tables.append(Table(headers, table_rows))
    return section


def _per_task(r: dict[str, Any]) -> Section:
    corrected = r["success_corrected"]
    per_task = corrected["cost_per_completed_task_usd"]
    rows = [(_policy(policy), _usd(usd)) for policy, usd in per_task.items()]
    lines = [
        "At the published success rates (benchmarks, not these logs' tasks); cheapest: "
        f"{corrected['cheapest_per_completed_task']}."
    ]
    return Section(
        "success_corrected", "Per completed task", lines=lines, tables=[Table(("policy", "per completed task"), rows)]
    )


def _nothing_read(r: dict[str, Any]) -> Section:
    return Section(
        "answer",
        "No request could be read",
        lines=[f"{r.get('lines', 0):,} lines read, none of them a request the audit can use: no verdict."],
    )


def _reading(r: dict[str, Any]) -> list[Section]:
    out = []
    skipped = r.get("skipped_reasons") or {}
    if skipped:
        rows = [(reason, f"{n:,}", SKIP_HELP[Skip(reason)]) for reason, n in skipped.items()]
        out.append(Section("skipped_reasons", "Skipped lines", tables=[Table(("reason", "lines", "meaning"), rows)]))
    notes = list((r.get("reading") or {}).get("warnings") or []) + list(r.get("unreadable_files") or [])
    if notes:
        out.append(Section("reading", "What the reading could not settle", bullets=notes))
    return out


def _generic(key: str, title: str, value: Any) -> Section:
    """A key whose shape this page does not know in detail: its lists of records as tables, the rest as rows."""
    section = Section(key, title)
    scalars: list[tuple[str, str]] = []
    for path, item in _walk(value, ""):
        if isinstance(item, list) and item and all(isinstance(row, dict) for row in item):
            headers = tuple(dict.fromkeys(k for row in item for k, _ in _flat(row, "")))
            rows = [tuple(_value(h, dict(_flat(row, "")).get(h)) for h in headers) for row in item]
            if path:
                section.lines.append(path)
            section.tables.append(Table(headers, rows))
        elif isinstance(item, list) and all(isinstance(x, str) for x in item):
            section.bullets.extend(item)
        else:
            scalars.append((path, _value(path, item)))
    if scalars:
        section.tables.insert(0, Table(("", ""), scalars))
    return section


def _walk(value: Any, path: str) -> Iterable[tuple[str, Any]]:
    """Leaves and lists of `value`, with their dotted paths."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}" if path else str(key))
    else:
        yield path, value


def _flat(row: dict[str, Any], path: str) -> Iterable[tuple[str, Any]]:
    for key, item in row.items():
        name = f"{path}.{key}" if path else str(key)
        if isinstance(item, dict):
            yield from _flat(item, name)
        else:
            yield name, item


def _policy(name: str) -> str:
    return POLICY_LABELS.get(name, name)


def _label(key: str) -> str:
    return key.replace("_", " ")


def _value(key: str, value: Any) -> str:
    """A figure as text, by what its key says it is (USD, a share) or its type."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if "usd" in key:
            return _usd(value)
        if "share" in key:
            return _pct(value)
        return f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(_value(key, item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_value(f'{key}.{k}', v)}" for k, v in value.items())
    return str(value)
