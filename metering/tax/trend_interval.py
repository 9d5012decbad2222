"""The trend's interval: a crossing is announced only when the slope's interval excludes zero.

The daily shares are binomial proportions, and real traffic varies from day to day more than that alone (an
agent's task puts many requests on one day): the same stationary traffic re-timed 20 ways gave slopes from −5.3 to
+5.8 points a week, and 9 of the 20 runs announced "crosses 79.7% in N weeks". So the slope of the weighted
least-squares line (metering/tax/trend.py, each day weighted by its requests) gets a standard error under a
quasi-binomial model: the binomial variance p(1 − p) / n of each day, scaled by the dispersion the days' own
residuals show when it is larger than 1 (Pearson's χ² over k − 2 degrees of freedom), and a Student t quantile on
k − 2 degrees of freedom — three days make a very wide interval, as they should. The crossing is forecast, with its
own range of weeks, only when the interval lies above zero; a line falling with an interval below zero says so;
otherwise the trend is flat within its interval and nothing is announced.

The interval is at 99%, not 95%: a forecast that tells a team to change its deployment should rarely be a false
alarm. On stationary traffic shaped like the issue's (7,785 requests, agents' tasks of 5-25 steps, re-timed over
14 days) the 95% interval lay above zero in 3.3% of 300 re-timings, close to its nominal 2.5% (the standard error
is right: 3.0 points a week estimated, 3.2 the slopes' spread) — about one log in 30 announcing a rise that is not
there; at 99%, fewer than one in a hundred.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from metering.tax import trend as trend_fit

LEVEL = 0.99
YEARS_2_WEEKS = 104.0
# Student t, two-sided 99%, for 1..30 degrees of freedom; above 30 the Cornish-Fisher expansion below.
T99 = (
    63.657, 9.925, 5.841, 4.604, 4.032, 3.707, 3.499, 3.355, 3.250, 3.169,
    3.106, 3.055, 3.012, 2.977, 2.947, 2.921, 2.898, 2.878, 2.861, 2.845,
    2.831, 2.819, 2.807, 2.797, 2.787, 2.779, 2.771, 2.763, 2.756, 2.750,
)  # fmt: skip
Z99 = 2.5758293035489004


def t99(df: int) -> float:
    """The two-sided 99% Student t quantile for `df` degrees of freedom (≥ 1)."""
    if df <= len(T99):
        return T99[df - 1]
    z = Z99
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def slope_interval(days: Sequence[tuple[float, int, int]]) -> tuple[float, float, float] | None:
    """(slope, low, high) in share per day from (day, requests, agentic) per day, or None: fewer than 3 days."""
    if len(days) < 3:
        return None
    points = [(x, agentic / n) for x, n, agentic in days]
    weights = [float(n) for _, n, _ in days]
    line = trend_fit.fit(points, weights)
    if line is None:
        return None
    total = sum(weights)
    share = sum(agentic for _, _, agentic in days) / total
    spread = sum(w * (x - line.mean_x) ** 2 for w, (x, _) in zip(weights, points, strict=True))
    df = len(days) - 2
    binomial = share * (1 - share)
    residual = sum(w * (y - line.at(x)) ** 2 for w, (x, y) in zip(weights, points, strict=True)) / df
    variance = max(binomial, residual) / spread  # dispersion max(1, residual / binomial), times binomial
    half = t99(df) * math.sqrt(variance)
    return line.slope, line.slope - half, line.slope + half


def with_interval(trend: dict[str, Any], days: Mapping[int, Sequence[int]], break_even: float) -> dict[str, Any]:
    """The audit's trend with `interval` (points a week) and `crossing` kept only when the interval excludes zero."""
    if not trend.get("available"):
        return trend
    found = slope_interval([(float(day), counts[0], counts[1]) for day, counts in sorted(days.items())])
    if found is None:
        return trend
    _slope, low, high = found
    out = dict(trend)
    out["interval"] = {"low": low * 7 * 100, "high": high * 7 * 100, "level": LEVEL}
    current = trend["share_now_fitted"]
    points = f"{trend['points_per_week']:+.2f} points/week [{low * 700:+.2f}, {high * 700:+.2f}]"
    out.pop("crossing", None)
    out["weeks_to_break_even"] = None
    if current >= break_even:
        out["weeks_to_break_even"] = 0.0
        out["reading"] = f"{points}: already above the break-even share"
    elif low > 0:
        weeks = trend_fit.weeks_to_cross(current, trend["points_per_week"] / 100, break_even)
        soonest = trend_fit.weeks_to_cross(current, high * 7, break_even)
        latest = trend_fit.weeks_to_cross(current, low * 7, break_even)
        out["weeks_to_break_even"] = weeks
        out["weeks_to_break_even_range"] = [soonest, latest]
        out["crossing"] = (
            f"crosses {break_even:.1%} in {weeks:.1f} weeks at this trend ({_weeks_range(soonest, latest)})"
            if weeks is not None and soonest is not None and latest is not None
            else "rising"
        )
        out["reading"] = f"{points}: {out['crossing']}"
    elif high < 0:
        out["crossing"] = "falling: no crossing at this trend"
        out["reading"] = f"{points}: {out['crossing']}"
    else:
        out["reading"] = f"{points}: flat within its {LEVEL:.0%} interval, no crossing announced"
    return out


def _weeks_range(soonest: float, latest: float) -> str:
    if latest > YEARS_2_WEEKS:
        return f"no sooner than {soonest:.1f} weeks; at the interval's slowest, over two years"
    return f"{soonest:.1f}–{latest:.1f} weeks over the interval"
