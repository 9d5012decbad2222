"""`classify(body, api, headers)`: single-turn or agentic, with a calibrated confidence and reasons.

Structure decides first (tool history, offered tools, forced functions, named agents in a group
chat); text protocols are looked for only when the structure is silent. Each decision comes from
one rule, and its confidence is that rule's measured accuracy (`classifier.calibration`). Pure,
no I/O, and it never raises: any JSON shape gets a decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from classifier import structure, text
from classifier.calibration import CONFIDENCE, DEFAULT_CONFIDENCE
from classifier.decision import AGENTIC, LABELS, SINGLE_TURN, Decision

OVERRIDE_HEADER = "x-routetax-class"


# (label, reason code, calibration key): the key is finer than the reason where the same reason
# is read from evidence of different strength (a loop running, a system prompt, a first user turn).
Finding = tuple[str, str, str]


def classify(body: Any, api: str = "chat", headers: Mapping[str, str] | None = None) -> Decision:
    return classify_with_rule(body, api, headers)[0]


def classify_with_rule(body: Any, api: str = "chat", headers: Mapping[str, str] | None = None) -> tuple[Decision, str]:
    """The decision and the calibration key of the rule that made it (for `classifier.calibrate`)."""
    try:
        if headers:  # `_override` only where there are headers: `routetax audit` classifies every line without any
            override = _override(headers)
            if override is not None:
                return override, "header_override"
        if not isinstance(body, dict):
            label, reason, rule = SINGLE_TURN, "unparseable", "unparseable"
        elif api == "responses":
            label, reason, rule = _classify_responses(body)
        else:
            label, reason, rule = _classify_chat(body)
    except Exception:  # a classifier that raises would take a request down with it
        label, reason, rule = SINGLE_TURN, "unparseable", "unparseable"
    found = _DECISIONS.get((label, reason, rule))
    if found is None:
        found = Decision(label, CONFIDENCE.get(rule, DEFAULT_CONFIDENCE), (reason,))
        if len(_DECISIONS) < MAX_DECISIONS:
            _DECISIONS[(label, reason, rule)] = found
    return found, rule


# Each (label, reason, rule) decision made once and handed out again: a Decision is frozen, and making one (a frozen
# dataclass sets each field through object.__setattr__) cost ≈ 0.45 µs of every classification. The rules and their
# reasons are a closed set of the code's own strings (a few dozen); the bound only guards against a bug.
_DECISIONS: dict[tuple[str, str, str], Decision] = {}
MAX_DECISIONS = 1024


def _override(headers: Mapping[str, str] | None) -> Decision | None:
    if not headers:
        return None
    value = headers.get(OVERRIDE_HEADER)
    if value is None:
        value = next((v for k, v in headers.items() if isinstance(k, str) and k.lower() == OVERRIDE_HEADER), None)
    if isinstance(value, str) and value.strip().lower() in LABELS:
        return Decision(value.strip().lower(), 1.0, ("header_override",))
    return None


def _classify_chat(body: dict[str, Any]) -> Finding:
    messages = body.get("messages")
    messages = messages if isinstance(messages, list) else []
    if structure.chat_tool_history(messages):
        return AGENTIC, "tool_history", "tool_history"
    # `chat_tools` is None without `tools` or `functions`: not called then (most requests without tools history)
    by_tools = structure.chat_tools(body) if "tools" in body or "functions" in body else None
    if by_tools is not None:
        first = next((m.get("content") for m in messages if isinstance(m, dict)), None)
        return _schemas_or(by_tools, body, first)
    if structure.multi_agent_turns(messages):
        return AGENTIC, "multi_agent_chat", "multi_agent_chat"
    wanted = body.get("response_format")  # `_wants_structured_output`, inline
    structured = isinstance(wanted, dict) and wanted.get("type") in ("json_schema", "json_object")
    return _by_text(_chat_turns(messages), structured)


def _chat_turns(messages: list[Any]) -> list[tuple[str, str]]:
    """(role, text) per message: `_role` and `text.text_of` written out, a string content taken as it is.

    Every request without tools or tool history comes here with its whole history; two function calls per
    message cost a quarter of this loop (20 turns: ≈ 54,000 instructions before, ≈ 41,400 written out).
    """
    turns = []
    for m in messages:
        if isinstance(m, dict):
            role, content = m.get("role"), m.get("content")
            role = "system" if role in SYSTEM_ROLES else "assistant" if role == "assistant" else "user"
            turns.append((role, content if isinstance(content, str) else text.text_of(content)))
    return turns


def _classify_responses(body: dict[str, Any]) -> Finding:
    items = body.get("input")
    if structure.responses_tool_history(items):
        return AGENTIC, "tool_history", "tool_history"
    by_tools = structure.responses_tools(body)
    if by_tools is not None:
        instructions = body.get("instructions")
        first = instructions if isinstance(instructions, str) and instructions else _first_content(items)
        return _schemas_or(by_tools, body, first)
    turns: list[tuple[str, str]] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        turns.append(("system", instructions))
    if isinstance(items, str):
        turns.append(("user", items))
    elif isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and (item.get("type") in (None, "message") or "role" in item):
                turns.append((_role(item.get("role")), text.text_of(item.get("content"))))
    text_format = body.get("text")
    structured = isinstance(text_format, dict) and _wants_structured_output(text_format.get("format"))
    return _by_text(turns, structured=structured)


def _schemas_or(by_tools: tuple[str, str], body: dict[str, Any], first: Any) -> Finding:
    """The tools' decision, unless the tools offered freely are all output schemas for an extraction, or
    the one forced schema is a choice among actions (an orchestrator's step).

    `first` is the content of the first message (or the instructions): an extraction says so up front.
    """
    if by_tools[1] == "tools_declared" and structure.schema_tools_only(body, lambda: text.text_of(first)):
        return SINGLE_TURN, "structured_output", "schema_tools"
    if by_tools[1] == "forced_function" and structure.schema_chooses_action(body):
        return AGENTIC, "forced_step", "schema_action_step"
    return by_tools[0], by_tools[1], by_tools[1]


def _first_content(items: Any) -> Any:
    if isinstance(items, str):
        return items
    if isinstance(items, list):
        return next((item.get("content") for item in items if isinstance(item, dict)), None)
    return None


def _by_text(turns: list[tuple[str, str]], structured: bool) -> Finding:
    seen: set[str] = set()
    found = text.text_protocol(turns, seen)
    if found is not None:
        reason, where = found
        return AGENTIC, reason, f"{where}:{reason}"
    if text.quotes_protocol(turns):
        return SINGLE_TURN, "quoted_protocol", "quoted_protocol"
    reason = "structured_output" if structured else "no_agentic_signal"
    return SINGLE_TURN, reason, f"{reason}:agent_words" if text.speaks_of_agency(seen) else reason


SYSTEM_ROLES = ("system", "developer")  # a tuple: compared with ==, so a role of any JSON type is read, not hashed


def _role(role: Any) -> str:
    if role in SYSTEM_ROLES:
        return "system"
    return "assistant" if role == "assistant" else "user"


def _wants_structured_output(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") in ("json_schema", "json_object")
