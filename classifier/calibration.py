"""Measured accuracy of each rule: the confidence a decision carries. Placeholder until calibrated."""

DEFAULT_CONFIDENCE = 0.5
CONFIDENCE: dict[str, float] = {}
