"""The classifier's answer: a label, how sure it is, and why.

`confidence` is the probability that the label is right on a request in a style the rule was not
written for: the rule's accuracy per style on the development corpora, shrunk toward a prior while
few styles back it, with the prior's strength fitted leave one framework out
(`classifier.calibrate`, values in `classifier.calibration`). The client's `x-routetax-class` header
is 1.0; an unparseable body 0.55, below the default `policy.min_confidence`, so a policy sends it to
the safer tier. The request's own structure (tools, tool history, a forced function) states ≈ 0.99;
text protocols ≈ 0.86–0.92; a single-turn decision where the instructions use agent words no rule
read states less than plain chat, because an agent in an unknown grammar lands there.
`reasons` are short stable codes from `REASONS`, bounded so they can be a metric label.
"""

from __future__ import annotations

from dataclasses import dataclass

AGENTIC = "agentic"
SINGLE_TURN = "single_turn"
LABELS = (SINGLE_TURN, AGENTIC)

REASONS = frozenset(
    {
        "header_override",
        "tools_declared",
        "builtin_tools",
        "tool_history",
        "forced_function",
        "forced_step",
        "multi_agent_chat",
        "tool_choice_none",
        "react_protocol",
        "command_protocol",
        "code_execution_loop",
        "action_grammar",
        "loop_internal",
        "quoted_protocol",
        "structured_output",
        "no_agentic_signal",
        "unparseable",
    }
)


@dataclass(frozen=True, slots=True)
class Decision:
    label: str
    confidence: float
    reasons: tuple[str, ...]

    @property
    def agentic(self) -> bool:
        return self.label == AGENTIC
