"""The agentic share's trend: one weighted least-squares line, for the report's time buckets and the audit's days.

The published analysis expects the agentic share to grow about 10 points a quarter; what matters to a
team is when its own share crosses the break-even. Both the report (over its window's time buckets) and
the audit (over its logs' days, each weighted by its requests) fit the same line, here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Line:
    """share = mean_y + slope × (x − mean_x), in the units of the points' x."""

    slope: float
    mean_x: float
    mean_y: float

    def at(self, x: float) -> float:
        return self.mean_y + self.slope * (x - self.mean_x)


def fit(points: Sequence[tuple[float, float]], weights: Sequence[float] | None = None) -> Line | None:
    """The least-squares line through (x, share) points, each weighted (default: all alike); None when the
    points do not spread over x (a single time, or none)."""
    if not points:
        return None
    w = [1.0] * len(points) if weights is None else list(weights)
    total = sum(w)
    mean_x = sum(wi * x for wi, (x, _) in zip(w, points, strict=True)) / total
    mean_y = sum(wi * y for wi, (_, y) in zip(w, points, strict=True)) / total
    variance = sum(wi * (x - mean_x) ** 2 for wi, (x, _) in zip(w, points, strict=True))
    if variance <= 0:
        return None
    covariance = sum(wi * (x - mean_x) * (y - mean_y) for wi, (x, y) in zip(w, points, strict=True))
    return Line(covariance / variance, mean_x, mean_y)


def weeks_to_cross(current: float, per_week: float, threshold: float) -> float | None:
    """Weeks until a share now at `current`, moving `per_week`, reaches `threshold`: 0 when it already has,
    None when it is not rising."""
    if current >= threshold:
        return 0.0
    if per_week <= 0:
        return None
    return (threshold - current) / per_week
