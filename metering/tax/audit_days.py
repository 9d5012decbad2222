"""Each day's agentic share with its 95% interval, so a chart of the share over time shows what a day can tell.

A day of 40 requests at 30% agentic is anywhere from 18% to 45%; drawn as a bare line, days like it
read as a trend. The interval is Wilson's score interval over the day's requests (the one every cell
of the routing-tax report carries, metering/tax/intervals.py): it is the sampling error of that day
alone, not the classifier's (the overall share's interval carries that).
"""

from __future__ import annotations

from typing import Any

from metering.tax.intervals import Z95, wilson

LEVEL = 0.95


def add_day_intervals(per_day: list[dict[str, Any]]) -> None:
    """Give each day of `per_day` (as the audit builds it) an `interval`: {low, high, level, method}."""
    for day in per_day:
        n = day["requests"]
        bounds = wilson(round(day["agentic_share"] * n), n, Z95)
        if bounds is not None:
            day["interval"] = {"low": bounds[0], "high": bounds[1], "level": LEVEL, "method": "wilson"}
