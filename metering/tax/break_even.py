"""The measured break-even agentic share and its 95% interval, a bootstrap over the units behind the cells.

The break-even share is where dual-tier as run and mini-only cost the same per completed task, each
class's cost per unit and success rate held fixed at what the cells measured:

    cost_p(s) = ((1 − s) × (cost_p,st + (1 − rate_p,st) × F) + s × (cost_p,ag + (1 − rate_p,ag) × F))
                ÷ ((1 − s) × rate_p,st + s × rate_p,ag)

(F: the failure cost). Both sides are ratios of lines in s, so their difference changes sign where a
quadratic does: solved in closed form, the first share in [0, 1] at which dual stops being cheaper;
0 when it is dearer at every share, 1 when it is cheaper at every share.

Its interval is a real 95% one: the units (tasks, or requests in the request-level report) are resampled
with replacement *within each cell they were measured in*, every figure both policies read is recomputed
from the one resample (a routed mini task counts in dual and in mini-only alike, as in the data), and the
2.5th and 97.5th percentiles of the resampled shares (nearest rank) are the ends. The generator is seeded
(`SEED`), so a report read twice prints the same interval. The work is bounded for any window: `RESAMPLES`
resamples, and a cell larger than `MAX_DRAWS` units is resampled `MAX_DRAWS` at a time with each mean's
deviation scaled by √(draws ÷ units) — the spread a full resample would have — so a report over 100,000
tasks costs what one over a few thousand does.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from metering.tax.percentile import nearest_rank

SEED = 28
RESAMPLES = 400  # a report's interval: `routetax report`, GET /v1/routing-tax, the demo
MAX_DRAWS = 500
LIVE_RESAMPLES = 100  # the policy switch's gauges, recomputed on the event loop every few seconds: a cheaper interval
LIVE_MAX_DRAWS = 50
POLICIES = ("dual", "mini")
COLUMNS = ("cost", "units", "successes", "judged")  # per policy: what a unit adds to each total
CLASSES = ("single_turn", "agentic")


@dataclass(slots=True)
class Stratum:
    """The units of one measured cell of one class, as the two policies read them.

    `columns[(policy, column)]` holds one value per unit: its cost, 1 if the policy counts it, 1 if it
    is a known success, 1 if its outcome is known (the rate's denominator); 0 where the policy does not
    read the unit. A cell read by neither policy has no stratum.
    """

    task_class: str
    columns: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    size: int = 0

    def add(self, costs: Mapping[str, float | None], success: bool, judged: bool) -> None:
        """One unit: its cost under each policy that reads it (None or absent: that policy does not)."""
        for policy in POLICIES:
            cost = costs.get(policy)
            values = (0.0, 0.0, 0.0, 0.0) if cost is None else (cost, 1.0, float(success), float(judged))
            for column, value in zip(COLUMNS, values, strict=True):
                self.columns.setdefault((policy, column), []).append(value)
        self.size += 1


@dataclass(frozen=True, slots=True)
class BreakEven:
    """The point, its bootstrap interval, and what the interval was computed from."""

    point: float | None
    ci: tuple[float | None, float | None]
    resamples: int
    undefined_resamples: int  # a resample in which a line had no judged unit or nothing completed

    def to_dict(self, unit: str) -> dict[str, object]:
        return {
            "share": self.point,
            "ci": list(self.ci),
            "method": f"bootstrap over {unit} within each cell ({self.resamples} resamples, seed {SEED})",
            "resamples": self.resamples,
            "undefined_resamples": self.undefined_resamples,
        }


def crossing(
    dual: Mapping[str, tuple[float, float]], mini: Mapping[str, tuple[float, float]], failure: float = 0.0
) -> float:
    """The first agentic share at which dual's cost per completed task reaches mini-only's, in [0, 1].

    `dual` and `mini` map each class to (cost per unit, success rate). 0: dual is dearer already with no
    agentic work; 1: dual is cheaper at every share.
    """

    def ends(lines: Mapping[str, tuple[float, float]]) -> tuple[float, float, float, float]:
        (c0, r0), (c1, r1) = lines["single_turn"], lines["agentic"]
        return c0 + (1 - r0) * failure, c1 + (1 - r1) * failure, r0, r1

    dn0, dn1, dd0, dd1 = ends(dual)
    mn0, mn1, md0, md1 = ends(mini)

    def q(s: float) -> float:  # the sign of dual − mini per completed task (denominators are never negative)
        return (dn0 + s * (dn1 - dn0)) * (md0 + s * (md1 - md0)) - (mn0 + s * (mn1 - mn0)) * (dd0 + s * (dd1 - dd0))

    q0, qh, q1 = q(0.0), q(0.5), q(1.0)
    if q0 >= 0:
        return 0.0
    a = 2 * (q0 + q1 - 2 * qh)
    b = q1 - q0 - a
    scale = max(abs(q0), abs(qh), abs(q1))
    roots: list[float] = []
    if abs(a) <= 1e-12 * scale:
        if b > 0:
            roots.append(-q0 / b)
    else:
        disc = b * b - 4 * a * q0
        if disc >= 0:
            root = math.sqrt(disc)
            roots.extend(((-b - root) / (2 * a), (-b + root) / (2 * a)))
    found = [s for s in roots if 0 < s < 1 - 1e-12]  # a root at 1 up to rounding is "cheaper at every share"
    return min(found) if found else 1.0


def _read_only(stratum: Stratum) -> Stratum:
    """The stratum without the columns of a policy that reads none of its units: no draws to sum for them."""
    read = {policy for policy in POLICIES if any(stratum.columns[(policy, "units")])}
    columns = {key: values for key, values in stratum.columns.items() if key[0] in read}
    return Stratum(stratum.task_class, columns, stratum.size)


def _policy_lines(
    strata: Sequence[Stratum],
    totals: Sequence[Mapping[tuple[str, str], float]],
    offsets: Mapping[tuple[str, str], float],
) -> dict[str, dict[str, tuple[float, float]]] | None:
    """Each policy's (cost per unit, rate) per class from the strata's column totals; None if a line is undefined."""
    sums: dict[tuple[str, str, str], float] = {}
    for stratum, total in zip(strata, totals, strict=True):
        for (policy, column), value in total.items():
            key = (policy, stratum.task_class, column)
            sums[key] = sums.get(key, 0.0) + value
    lines: dict[str, dict[str, tuple[float, float]]] = {}
    for policy in POLICIES:
        lines[policy] = {}
        for label in CLASSES:
            units, judged = sums.get((policy, label, "units"), 0.0), sums.get((policy, label, "judged"), 0.0)
            if units <= 0 or judged <= 0:
                return None
            cost = sums[(policy, label, "cost")] / units + offsets.get((policy, label), 0.0)
            rate = min(1.0, max(0.0, sums[(policy, label, "successes")] / judged))  # a rescaled draw may overshoot
            lines[policy][label] = (cost, rate)
    return lines


def _resample(
    stratum: Stratum, full: Mapping[tuple[str, str], float], rng: random.Random, max_draws: int
) -> dict[tuple[str, str], float]:
    """One bootstrap draw of the stratum's column totals (a large stratum: `max_draws` draws, deviations rescaled)."""
    n = stratum.size
    m = min(n, max_draws)
    pick = itemgetter(*rng.choices(range(n), k=m)) if m > 1 else (lambda values: (values[rng.randrange(n)],))
    out = {}
    for key, values in stratum.columns.items():
        drawn = sum(pick(values))
        if m == n:
            out[key] = drawn
        else:  # n × (mean + (drawn mean − mean) × √(m ÷ n)): a full resample's spread, from m draws
            mean = full[key] / n
            out[key] = n * (mean + (drawn / m - mean) * math.sqrt(m / n))
    return out


def break_even(
    strata: Sequence[Stratum],
    offsets: Mapping[tuple[str, str], float],
    failure: float = 0.0,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    max_draws: int = MAX_DRAWS,
    redo: Mapping[str, tuple[float, float]] | None = None,
) -> BreakEven:
    """The break-even share of dual vs mini-only over the strata, with its bootstrap interval.

    `offsets[(policy, class)]` is a cost per unit held fixed (dual's router and classifier per unit).
    `redo` (class -> cost per task and success rate of the tier failed tasks are redone on, held fixed)
    puts each failure right that way. None when a line has no unit or no judged outcome.
    """

    def solve(lines: dict[str, dict[str, tuple[float, float]]]) -> float:
        if redo is None:
            return crossing(lines["dual"], lines["mini"], failure)
        remedied = {
            policy: {
                c: (cost + (1 - rate) * (failure + redo[c][0]), rate + (1 - rate) * redo[c][1])
                for c, (cost, rate) in by_class.items()
            }
            for policy, by_class in lines.items()
        }
        return crossing(remedied["dual"], remedied["mini"])

    strata = [_read_only(stratum) for stratum in strata if stratum.size]
    full = [{key: math.fsum(values) for key, values in stratum.columns.items()} for stratum in strata]
    point_lines = _policy_lines(strata, full, offsets)
    if point_lines is None:
        return BreakEven(None, (None, None), 0, 0)
    point = solve(point_lines)
    rng = random.Random(seed)
    shares: list[float] = []
    undefined = 0
    for _ in range(resamples):
        drawn = [_resample(stratum, total, rng, max_draws) for stratum, total in zip(strata, full, strict=True)]
        lines = _policy_lines(strata, drawn, offsets)
        if lines is None:
            undefined += 1
            continue
        shares.append(solve(lines))
    if not shares:
        return BreakEven(point, (None, None), resamples, undefined)
    return BreakEven(point, (nearest_rank(shares, 0.025), nearest_rank(shares, 0.975)), resamples, undefined)
