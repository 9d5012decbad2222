"""How an emulated agent loop goes on: how many tool rounds a conversation gets, and the ReAct text protocol.

A real model decides by itself when it has used its tools enough; a test double must decide by a rule the
client can see and rely on, and that rule must not read anything OpenAI's protocol does not carry. So the
number of tool rounds is read from the conversation's own content: its first user message may say
`[N tool rounds]` (N ≥ 1); without it a conversation gets one round per user turn, as the emulator always
did. A "round" is one answer that uses a tool — a `tool_calls` answer (chat), a `function_call` item
(Responses), or an `Action:` line (the text protocol) — counted since the last user turn that is not an
observation, so each new user turn starts its own rounds.

The text protocol is the ReAct format agent frameworks write into the system prompt: the model answers
`Thought: ...` then `Action: tool[input]`, the application runs the tool and sends back a user message
starting with `Observation:`, until the model writes `Final Answer: ...`. The emulator speaks it when the
system prompt (or the Responses `instructions`) asks for `Action:` and `Final Answer:`; the tools it may
name are those the prompt lists as LangChain's template does (`one of [a, b]`).
"""

from __future__ import annotations

import re
from typing import Any

ROUNDS_MARKER = re.compile(r"\[(\d{1,3}) tool rounds?\]")
TOOL_NAMES = re.compile(r"one of \[([^\]]+)\]")
OBSERVATION = "Observation:"


def _text(content: Any) -> str:
    """A message's text: a string, or the text parts of a content list (chat and Responses shapes)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _is_user_turn(item: Any) -> bool:
    """A user message that is not an observation (a person's or the application's new request)."""
    if not isinstance(item, dict) or item.get("role") != "user":
        return False
    return not _text(item.get("content")).lstrip().startswith(OBSERVATION)


def wanted_rounds(items: list[Any]) -> int:
    """The tool rounds the conversation asks for: `[N tool rounds]` in its first user message, else 1."""
    first = next((item for item in items if isinstance(item, dict) and item.get("role") == "user"), None)
    found = ROUNDS_MARKER.search(_text(first.get("content"))) if first else None
    return max(1, int(found.group(1))) if found else 1


def rounds_done(items: list[Any]) -> int:
    """Answers that used a tool since the last user turn (chat messages or Responses input items)."""
    done = 0
    for item in reversed(items):
        if _is_user_turn(item):
            break
        if not isinstance(item, dict):
            continue
        if item.get("role") == "assistant" and (item.get("tool_calls") or item.get("function_call")):
            done += 1
        elif item.get("type") == "function_call":
            done += 1
        elif item.get("role") == "assistant" and "Action:" in _text(item.get("content")):
            done += 1
    return done


def more_rounds(items: list[Any]) -> bool:
    """Whether the conversation still asks for a tool round after a tool result."""
    return rounds_done(items) < wanted_rounds(items)


def react_tools(instructions: str | None) -> list[str] | None:
    """The tools a ReAct system prompt offers (None: the prompt does not ask for the text protocol)."""
    if not instructions or "Action:" not in instructions or "Final Answer:" not in instructions:
        return None
    found = TOOL_NAMES.search(instructions)
    names = [n.strip() for n in found.group(1).split(",") if n.strip()] if found else []
    return names or ["tool"]


def system_text(messages: list[Any]) -> str | None:
    """The system (or developer) prompt of a chat conversation."""
    parts = [
        _text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") in ("system", "developer")
    ]
    return "\n".join(parts) if parts else None


def react_answer(tools: list[str], items: list[Any], prose: str) -> str:
    """The next ReAct turn: an `Action:` while rounds remain, then the `Final Answer:`.

    Each round names the next tool in turn (a model that asked for the very same call again and again would
    be a loop that failed, which is not what this conversation scripts).
    """
    done = rounds_done(items)
    if done < wanted_rounds(items):
        tool = tools[done % len(tools)]
        return f"Thought: I need {tool} for this (step {done + 1}).\nAction: {tool}[step {done + 1}]"
    return f"Thought: I have what I need.\nFinal Answer: {prose}"
