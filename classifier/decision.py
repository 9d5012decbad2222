"""The classifier's answer: a label, how sure it is, and why.

`confidence` means:
- 1.0  structural certainty: the request's own shape says it (tools offered to the model,
       tool calls or results in its history, a forced function, `tool_choice: none`), or
       the client said so with the `x-routetax-class` header;
- 0.9  a text-protocol loop visibly running in the history (the model emitted an action and
       its result came back as a turn);
- 0.8  a text protocol defined by the instructions (ReAct format, a JSON action format,
       commands the model must emit) on a first step, before any action ran;
- 0.75 the same definition sent as the first user turn (templates for system-less models):
       text that opens by addressing the model, weaker than a system prompt;
- 0.85 no agentic signal at all in a request without tools (plain chat, extraction, ...);
- 0.7  protocol words quoted as content (a pasted agent log, a ticket): single-turn by the
       definition, but read from text, not structure;
- 0.55 an unparseable body: a policy should send these to the safer tier.
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
