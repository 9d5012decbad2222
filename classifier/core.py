"""`classify(body, api, headers)`: single-turn or agentic, with a confidence and reasons.

Structure decides first (tool history, offered tools, forced functions); text protocols
are looked for only when the structure is silent. Pure, no I/O, and it never raises:
any JSON shape gets a decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from classifier import structure, text
from classifier.decision import AGENTIC, LABELS, SINGLE_TURN, Decision

OVERRIDE_HEADER = "x-routetax-class"
_UNPARSEABLE = Decision(SINGLE_TURN, 0.55, ("unparseable",))


def classify(body: Any, api: str = "chat", headers: Mapping[str, str] | None = None) -> Decision:
    try:
        override = _override(headers)
        if override is not None:
            return override
        if not isinstance(body, dict):
            return _UNPARSEABLE
        return _classify_responses(body) if api == "responses" else _classify_chat(body)
    except Exception:  # a classifier that raises would take a request down with it
        return _UNPARSEABLE


def _override(headers: Mapping[str, str] | None) -> Decision | None:
    if not headers:
        return None
    value = headers.get(OVERRIDE_HEADER)
    if value is None:
        value = next((v for k, v in headers.items() if isinstance(k, str) and k.lower() == OVERRIDE_HEADER), None)
    if isinstance(value, str) and value.strip().lower() in LABELS:
        return Decision(value.strip().lower(), 1.0, ("header_override",))
    return None


def _classify_chat(body: dict[str, Any]) -> Decision:
    messages = body.get("messages")
    messages = messages if isinstance(messages, list) else []
    if structure.chat_tool_history(messages):
        return Decision(AGENTIC, 1.0, ("tool_history",))
    by_tools = structure.chat_tools(body)
    if by_tools is not None:
        return Decision(by_tools[0], 1.0, (by_tools[1],))
    if structure.multi_agent_turns(messages):
        return _decision(AGENTIC, "multi_agent_chat")
    turns = [(_role(m.get("role")), text.text_of(m.get("content"))) for m in messages if isinstance(m, dict)]
    return _by_text(turns, structured=_wants_structured_output(body.get("response_format")))


def _classify_responses(body: dict[str, Any]) -> Decision:
    items = body.get("input")
    if structure.responses_tool_history(items):
        return Decision(AGENTIC, 1.0, ("tool_history",))
    by_tools = structure.responses_tools(body)
    if by_tools is not None:
        return Decision(by_tools[0], 1.0, (by_tools[1],))
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


def _by_text(turns: list[tuple[str, str]], structured: bool) -> Decision:
    found = text.text_protocol(turns)
    if found is not None:
        return Decision(AGENTIC, found[1], (found[0],))
    if text.quotes_protocol(turns):
        return Decision(SINGLE_TURN, 0.7, ("quoted_protocol",))
    return Decision(SINGLE_TURN, 0.85, ("structured_output",) if structured else ("no_agentic_signal",))


def _role(role: Any) -> str:
    if role in ("system", "developer"):
        return "system"
    return "assistant" if role == "assistant" else "user"


def _wants_structured_output(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") in ("json_schema", "json_object")
