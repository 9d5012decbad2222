"""The percentile every latency figure of the routing-tax report uses: nearest rank.

The q-th percentile of n values is the ⌈q·n⌉-th smallest (1-based): always a value that was measured,
and the p99 of 10 samples is the largest, not the 9th (`int(q·n) − 1` as an index is one rank low
whenever q·n is not a whole number). q·n is rounded before the ceiling so that 0.9 × 10 is rank 9,
not 10 by floating-point drift.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

_DIGITS = 9  # q·n is a rank: 0.29 × 100 is 28.999999999999996 in floating point, and it is rank 29


def nearest_rank(values: Iterable[float], q: float) -> float | None:
    """The nearest-rank `q` percentile (0 < q ≤ 1) of `values`; None when there are none."""
    if not 0 < q <= 1:
        raise ValueError(f"a percentile is a share in (0, 1], not {q}")
    ordered = sorted(values)
    if not ordered:
        return None
    rank = math.ceil(round(q * len(ordered), _DIGITS))
    return ordered[max(rank, 1) - 1]
