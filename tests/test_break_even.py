"""The measured break-even share and its interval: a bootstrap over tasks, not the corner of every cell's bounds."""

from __future__ import annotations

import random

import pytest

from metering.tax.break_even import Stratum, break_even, crossing
from tests.test_measurement_spend import text_of
from tests.test_task_cells import FB, many, report_of, task

FIXED = 0.0002  # dual's router and classifier per task
# (arm, class): mean cost per task, true success rate, tasks, read by dual (routed) / by mini-only
CELLS = {
    ("nano", "single_turn"): (0.0002, 0.52, 200, True, False),
    ("mini", "single_turn"): (0.0010, 0.54, 60, False, True),
    ("mini", "agentic"): (0.0040, 0.72, 120, True, True),
}
COVERAGE = 0.6  # the share of tasks whose outcome is judged
TRUE_LINES = {
    "dual": {"single_turn": (0.0002 + FIXED, 0.52), "agentic": (0.0040 + FIXED, 0.72)},
    "mini": {"single_turn": (0.0010, 0.54), "agentic": (0.0040, 0.72)},
}
TRUE_SHARE = crossing(TRUE_LINES["dual"], TRUE_LINES["mini"])


def synthetic_strata(seed: int, scale: int = 1) -> list[Stratum]:
    """One draw of task data from CELLS: costs exponential around the cell's mean, outcomes judged on COVERAGE."""
    rng = random.Random(seed)
    strata = []
    for (_arm, label), (cost, rate, tasks, dual, mini) in CELLS.items():
        stratum = Stratum(label)
        for _ in range(tasks * scale):
            spent = rng.expovariate(1 / cost)
            judged = rng.random() < COVERAGE
            stratum.add({"dual": spent if dual else None, "mini": spent if mini else None}, rng.random() < rate, judged)
        strata.append(stratum)
    return strata


OFFSETS = {("dual", "single_turn"): FIXED, ("dual", "agentic"): FIXED}


def test_the_closed_form_is_where_the_two_policies_cost_the_same() -> None:
    assert 0.6 < TRUE_SHARE < 0.8

    def per_completed(lines: dict, s: float) -> float:
        (c0, r0), (c1, r1) = lines["single_turn"], lines["agentic"]
        return ((1 - s) * c0 + s * c1) / ((1 - s) * r0 + s * r1)

    assert per_completed(TRUE_LINES["dual"], TRUE_SHARE) == pytest.approx(per_completed(TRUE_LINES["mini"], TRUE_SHARE))
    cheap = {"single_turn": (0.0001, 0.5), "agentic": (0.001, 0.7)}
    assert crossing(cheap, TRUE_LINES["mini"]) == 1.0  # dual cheaper at every share
    assert crossing(TRUE_LINES["mini"], cheap) == 0.0  # dearer already without agentic work


def test_the_interval_contains_the_true_break_even_about_95_percent_of_the_time() -> None:
    """200 draws of task data from known cells: a real 95% interval misses the truth about 1 time in 20."""
    hits = 0
    for seed in range(200):
        found = break_even(synthetic_strata(seed), OFFSETS, resamples=50)
        lo, hi = found.ci
        hits += lo <= TRUE_SHARE <= hi
    assert hits / 200 > 0.85, hits


def test_the_interval_is_reproducible_and_narrower_than_the_corners_of_the_cells_bounds() -> None:
    strata = synthetic_strata(7)
    first, again = break_even(strata, OFFSETS), break_even(strata, OFFSETS)
    assert first == again and first.resamples == 400 and first.undefined_resamples == 0
    lo, hi = first.ci
    assert lo <= first.point <= hi  # type: ignore[operator]
    assert hi - lo < 0.5  # type: ignore[operator]


def test_a_large_cell_is_resampled_a_bounded_number_of_draws_with_its_full_spread() -> None:
    """Cells of 20× the tasks: the interval from bounded draws is about as wide as a full bootstrap's."""
    strata = synthetic_strata(3, scale=20)
    bounded = break_even(strata, OFFSETS, resamples=200, max_draws=200)
    full = break_even(strata, OFFSETS, resamples=200, max_draws=10_000)
    width = lambda found: found.ci[1] - found.ci[0]  # noqa: E731
    assert bounded.point == full.point
    assert 0.7 < width(bounded) / width(full) < 1.4


def test_the_report_prints_the_task_level_break_even_with_its_bootstrap_interval() -> None:
    closed = [
        *many("nano", "single_turn", 0.0004, 52, 48),
        *many("mini", "single_turn", 0.0010, 54, 46, explored=True),
        *many("mini", "agentic", 0.0042, 72, 28),
        task("mini", "agentic", 0.0042),  # unknown: in the cell, not in the rate
    ]
    report = report_of(closed)
    found = report["measured"]["tasks"]["break_even"]
    assert found["share"] == pytest.approx(
        crossing(
            {"single_turn": (0.0004, 0.52), "agentic": (0.0042, 0.72)},
            {"single_turn": (0.0010, 0.54), "agentic": (0.0042, 0.72)},
        )
    )
    lo, hi = found["ci"]
    assert 0 <= lo <= found["share"] <= hi <= 1
    assert found["method"] == "bootstrap over tasks within each cell (400 resamples, seed 28)"
    assert report_of(closed)["measured"]["tasks"]["break_even"] == found  # the same report twice, the same interval
    text = text_of(report)
    assert f"break-even agentic share: measured {found['share']:.3f} [{lo:.3f}, {hi:.3f}]" in text
    assert "95%, bootstrap over tasks" in text


def test_no_break_even_without_both_policies_measured() -> None:
    report = report_of([*many("nano", "single_turn", 0.0004, 5, 5), task("nano", "agentic", 0.001, "success", FB)])
    found = report["measured"]["tasks"]["break_even"]
    assert found["share"] is None and found["ci"] == [None, None]
