"""Single-turn or agentic: the decision every routing choice and every tax figure depends on.

`classify(body, api="chat"|"responses", headers=None) -> Decision(label, confidence, reasons)`
is pure, imports nothing of routetax's, and never raises. See `classifier.decision` for what
the confidence means and `REASONS` for the bounded set of reason codes. A caller that replays the same
system prompts many times (`routetax audit` reading a log) may ask it to `remember_instructions()`.
"""

from classifier.core import OVERRIDE_HEADER, classify
from classifier.decision import AGENTIC, LABELS, REASONS, SINGLE_TURN, Decision
from classifier.text import remember_instructions

__all__ = [
    "AGENTIC",
    "LABELS",
    "OVERRIDE_HEADER",
    "REASONS",
    "SINGLE_TURN",
    "Decision",
    "classify",
    "remember_instructions",
]
