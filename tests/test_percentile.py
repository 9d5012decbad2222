"""One percentile for every latency figure the routing-tax report prints: nearest rank (docs/routing-tax.md)."""

from __future__ import annotations

import pytest

from metering.record import Attempt, Record
from metering.tax.percentile import nearest_rank
from metering.tax.report import build_report


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        # nearest rank: the ⌈q·n⌉-th smallest value (1-based)
        ([7.0], 0.99, 7.0),
        ([7.0], 0.50, 7.0),
        ([3.0, 1.0], 0.50, 1.0),  # ⌈1⌉ = 1st of [1, 3]
        ([3.0, 1.0], 0.99, 3.0),  # ⌈1.98⌉ = 2nd
        ([5.0, 1.0, 4.0, 2.0, 3.0], 0.50, 3.0),  # ⌈2.5⌉ = 3rd
        ([float(v) for v in range(1, 11)], 0.99, 10.0),  # ⌈9.9⌉ = 10th: the old p99 gave the 9th
        ([float(v) for v in range(1, 11)], 0.50, 5.0),  # ⌈5⌉ = 5th
        ([float(v) for v in range(1, 11)], 0.90, 9.0),  # ⌈9⌉ = 9th exactly, no float drift to the 10th
        ([float(v) for v in range(1, 101)], 0.99, 99.0),  # ⌈99⌉ = 99th
        ([float(v) for v in range(1, 151)], 0.99, 149.0),  # ⌈148.5⌉ = 149th: the old p99 gave the 148th
        ([float(v) for v in range(1, 201)], 1.0, 200.0),
    ],
)
def test_nearest_rank_by_hand(values: list[float], q: float, expected: float) -> None:
    assert nearest_rank(values, q) == expected


def test_nearest_rank_of_nothing_is_none_and_q_must_be_a_share() -> None:
    assert nearest_rank([], 0.99) is None
    with pytest.raises(ValueError):
        nearest_rank([1.0], 0.0)
    with pytest.raises(ValueError):
        nearest_rank([1.0], 1.5)


def test_the_reports_latency_percentiles_are_nearest_rank() -> None:
    records = [
        Record(
            request_id=f"r{i}",
            label="single_turn",
            routed_tier="nano",
            tier_path=["nano"],
            attempts=[Attempt(tier="nano", model="nano", cost_usd=0.001, billed=True)],
            counterfactual_usd={"nano": 0.001, "mini": 0.004},
            proxy_overhead_ms=float(ms),
            started_at=1_000_000.0 + i,
            ended_at=1_000_000.5 + i,
        )
        for i, ms in enumerate([4, 9, 1, 7, 3, 10, 2, 6, 8, 5])
    ]
    latency = build_report(records)["measured"]["latency_overhead_ms"]
    assert latency == {"p50": 5.0, "p99": 10.0}
