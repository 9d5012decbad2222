"""The routing-tax verdict's closed set of decisions.

Its own module because two sides name it: the report takes the decision (`metering.tax.report`), and
the metrics export it as the `routetax_verdict` gauge on the write side, which must not import the report.
"""

from __future__ import annotations

from enum import StrEnum


class Decision(StrEnum):
    """Which policy is cheaper per completed task, or that the measurements cannot tell yet."""

    DUAL_TIER_PAYS = "dual_tier_pays"
    MINI_ONLY_CHEAPER = "mini_only_cheaper"
    UNDECIDED = "undecided"
