"""Structural signals: what the request's own shape says, before any text is read.

Tools the model may call on its own, tool calls or results in the history, a lone function
forced as a structured-output schema, `tool_choice: none`: these are the request's own
shape, so they decide first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

HISTORY_ITEM_TYPES = frozenset(
    {
        "function_call",
        "function_call_output",
        "computer_call",
        "computer_call_output",
        "mcp_call",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "web_search_call",
        "file_search_call",
        "code_interpreter_call",
        "image_generation_call",
        "local_shell_call",
        "local_shell_call_output",
        "shell_call",
        "shell_call_output",
        "apply_patch_call",
        "apply_patch_call_output",
        "custom_tool_call",
        "custom_tool_call_output",
        "tool_call",
        "tool_result",
    }
)
CLIENT_TOOL_TYPES = frozenset({"function", "custom"})
SCHEMA_NAME = re.compile(r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*")
EXTRACTION = re.compile(r"(?i)\W*(?:please )?(?:extract|parse|identify all|pull out|fill)\b")
# Roles that carry a tool's result: OpenAI's tool / function, Llama 3's ipython.
TOOL_ROLES = frozenset({"tool", "function", "ipython"})
# Content parts that are tool calls or results, as Anthropic-shaped or Responses-shaped
# clients send them through an OpenAI-compatible endpoint.
TOOL_PART_TYPES = frozenset(
    {"tool_use", "tool_result", "tool_call", "function_call", "function_call_output", "server_tool_use"}
)


def chat_tool_history(messages: list[Any]) -> bool:
    """Tool calls or tool results anywhere in the history: a loop step, whatever tool_choice says now.

    `_is_tool_message`'s test written out in the loop: every request walks its whole history here, and a
    function call per message cost ≈ 400 instructions of ≈ 2,400 (20 turns: ≈ 47,700 before, ≈ 39,400 inline).
    """
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role in TOOL_ROLES or role == "assistant" and (message.get("tool_calls") or message.get("function_call")):
            return True
        content = message.get("content")
        if isinstance(content, list) and _has_tool_part(content):
            return True
    return False


def _is_tool_message(message: dict[str, Any]) -> bool:
    role = message.get("role")
    if role in TOOL_ROLES:
        return True
    if role == "assistant" and (message.get("tool_calls") or message.get("function_call")):
        return True
    content = message.get("content")
    return isinstance(content, list) and _has_tool_part(content)


def _has_tool_part(content: list[Any]) -> bool:
    return any(isinstance(part, dict) and part.get("type") in TOOL_PART_TYPES for part in content)


def chat_tools(body: dict[str, Any]) -> tuple[str, str] | None:
    """(label, reason) decided by declared tools and tool_choice, or None when no tools are offered."""
    tools = body.get("tools")
    functions = body.get("functions")
    has_tools = isinstance(tools, list) and len(tools) > 0
    has_functions = isinstance(functions, list) and len(functions) > 0
    if not has_tools and not has_functions:
        return None
    offered = tools if has_tools else functions
    choice = body.get("tool_choice") if has_tools else None
    legacy = body.get("function_call") if has_functions and not has_tools else None
    if has_tools and "tool_choice" not in body and has_functions:
        legacy = body.get("function_call")
    names = [_chat_tool_name(t) for t in offered]
    for value in (choice, legacy):
        if value == "none":
            return "single_turn", "tool_choice_none"
        if isinstance(value, dict) and _forces_client_tool(value):
            return _forced(names)
        if value in ("required", "any"):
            return _required(names)
    return "agentic", "tools_declared"


def _chat_tool_name(tool: Any) -> str:
    if not isinstance(tool, dict):
        return ""
    function = tool.get("function")
    name = function.get("name") if isinstance(function, dict) else tool.get("name")
    return name if isinstance(name, str) else ""


def _forced(names: list[str]) -> tuple[str, str]:
    """A function forced by name: a schema to fill when it is the only tool, an agent's step among others.

    An agent that forces its first action (OpenAI Agents `ModelSettings(tool_choice=...)`, a LangGraph
    node) still offers its other tools and handoffs for the steps that follow.
    """
    if len(names) > 1 or _is_handoff(names):
        return "agentic", "forced_step"
    return "single_turn", "forced_function"


def _required(names: list[str]) -> tuple[str, str]:
    """`tool_choice: required` with exactly one tool is a forced extraction (LangChain `tool_choice="any"`,
    pydantic-ai's `final_result`); with several tools the model still chooses its action."""
    if len(names) == 1 and not _is_handoff(names):
        return "single_turn", "forced_function"
    return "agentic", "tools_declared"


def _forces_client_tool(choice: dict[str, Any]) -> bool:
    """A choice naming one function (or custom tool) the client executes."""
    kind = choice.get("type")
    if kind in CLIENT_TOOL_TYPES or (kind is None and isinstance(choice.get("name"), str)):
        return isinstance(choice.get("name"), str) or isinstance((choice.get("function") or {}).get("name"), str)
    return False


def _is_handoff(names: list[str]) -> bool:
    return any(name.startswith(("transfer_to_", "handoff_to_")) for name in names)


def responses_tool_history(items: Any) -> bool:
    if not isinstance(items, list):
        return False
    for item in items:
        if isinstance(item, dict) and (item.get("type") in HISTORY_ITEM_TYPES or _is_tool_message(item)):
            return True
    return False


def responses_tools(body: dict[str, Any]) -> tuple[str, str] | None:
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools:
        return None
    kinds = {t.get("type") for t in tools if isinstance(t, dict)}
    names = [t.get("name") or t.get("type") or "" if isinstance(t, dict) else "" for t in tools]
    choice = body.get("tool_choice")
    if choice == "none":
        return "single_turn", "tool_choice_none"
    if isinstance(choice, dict) and _forces_client_tool(choice):
        return _forced(names)
    if choice in ("required", "any"):
        return _required(names)
    builtin = bool(kinds - CLIENT_TOOL_TYPES - {None})
    return "agentic", "builtin_tools" if builtin and not (kinds & CLIENT_TOOL_TYPES) else "tools_declared"


# Names agents go by in a group chat (AutoGen's "user" and "writer", AG2's "Planner", Magentic-One's "Coder"):
# a signer whose name holds one of these words, or ends in agent / proxy, is an agent or the task's own user.
AGENT_NAME_WORDS = frozenset(
    {"user", "human", "admin", "assistant", "agent", "proxy", "planner", "critic", "writer", "coder", "engineer"}
    | {"executor", "reviewer", "researcher", "manager", "orchestrator", "scientist", "solver", "verifier", "terminal"}
    | {"summarizer", "summariser", "analyst", "surfer", "programmer", "editor", "checker", "selector", "router"}
)
NAME_PART = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def multi_agent_turns(messages: list[Any]) -> bool:
    """Turns signed (`name`) by two or more participants, one of them an agent: a group chat of agents (AutoGen teams).

    People in a Discord or Slack channel sign their messages too ("alice", "bob_42"): a chat among
    people answered by one bot is single-turn. A signer counts as an agent when its name says so
    (`AGENT_NAME_WORDS`) or the instructions name it (a selector listing the roles).
    """
    names: set[str] = set()
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            name = message.get("name")
            if isinstance(name, str) and name:
                names.add(name)
    if len(names) < 2:
        return False
    instructions = " ".join(
        m["content"]
        for m in messages
        if isinstance(m, dict) and m.get("role") in ("system", "developer") and isinstance(m.get("content"), str)
    )
    return any(_agent_name(name, instructions) for name in names)


def _agent_name(name: str, instructions: str) -> bool:
    parts = {part.lower() for part in NAME_PART.findall(name)}
    if not parts.isdisjoint(AGENT_NAME_WORDS):
        return True
    return len(name) >= 3 and re.search(rf"\b{re.escape(name)}\b", instructions) is not None


def schema_tools_only(body: dict[str, Any], instructions: Callable[[], str]) -> bool:
    """Several tools that are all output schemas, offered for extraction (Instructor's parallel tools).

    Schemas are named like classes (`Weather`, `WebSearch`), where a client's functions are named like
    functions (`get_weather`); described as extracted, or offered by instructions that ask for an
    extraction, they are filled once and nothing is run. `instructions` gives the first message's text,
    read only when the names already look like schemas.
    """
    tools = body.get("tools")
    if not isinstance(tools, list) or len(tools) < 2:
        return False
    if not all(SCHEMA_NAME.fullmatch(_chat_tool_name(tool)) for tool in tools):
        return False
    return all("extract" in _description(tool) for tool in tools) or EXTRACTION.match(instructions()) is not None


def _description(tool: Any) -> str:
    if not isinstance(tool, dict):
        return ""
    function = tool.get("function")
    description = (function if isinstance(function, dict) else tool).get("description")
    return description.lower() if isinstance(description, str) else ""


# A property that holds the model's next move: `action`, `next_tool`, `command`, `move`.
ACTION_PROPERTY_WORDS = frozenset({"action", "actions", "tool", "tools", "command", "move"})


def schema_chooses_action(body: dict[str, Any]) -> bool:
    """A lone forced schema whose answer is a choice among actions: an agent's step, not an extraction.

    An orchestrator that forces its one output schema (Atomic Agents) still picks its next move in it:
    a property named for the action whose value is a union of alternatives (a tool's input, or the
    final answer). An extraction's unions (`pet: Cat | Dog`) are not named for an action.
    """
    tools = body.get("tools")
    if not isinstance(tools, list) or len(tools) != 1 or not isinstance(tools[0], dict):
        return False
    function = tools[0].get("function")
    parameters = (function if isinstance(function, dict) else tools[0]).get("parameters")
    properties = parameters.get("properties") if isinstance(parameters, dict) else None
    if not isinstance(properties, dict):
        return False
    for key, value in properties.items():
        if not isinstance(key, str) or not isinstance(value, dict):
            continue
        if ACTION_PROPERTY_WORDS.isdisjoint(key.lower().split("_")):
            continue
        union = value.get("anyOf") or value.get("oneOf")
        if isinstance(union, list) and len(union) >= 2:
            return True
    return False
