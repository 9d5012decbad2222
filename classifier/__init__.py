"""Single-turn or agentic: the decision every routing choice and every tax figure depends on.

`classify(body, api="chat"|"responses", headers=None) -> Decision(label, confidence, reasons)`
is pure, imports nothing of routetax's, and never raises. See `classifier.decision` for what
the confidence means and `REASONS` for the bounded set of reason codes.
"""

from classifier.core import OVERRIDE_HEADER, classify
from classifier.decision import AGENTIC, LABELS, REASONS, SINGLE_TURN, Decision

__all__ = ["AGENTIC", "LABELS", "OVERRIDE_HEADER", "REASONS", "SINGLE_TURN", "Decision", "classify"]
