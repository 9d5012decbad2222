"""Text-protocol agents: loops that run without a `tools` parameter.

An agent can speak its protocol in plain text: ReAct's Thought / Action / Observation, a
JSON action format, shell commands, or code that is executed and whose output comes back
as a user turn. Words alone are not structure, so the rules ask for one of two things:
the protocol is *defined* by the instructions (system / developer prompt, or a prompt
template that tells the model which format to emit), or the loop is *visibly running*
(an assistant turn emitted an action and a later turn carries its result). A user who
pastes an agent log and asks for a summary has neither.

Scanning is bounded (the head and tail of the instructions and of the last few turns) so
a 32 KB request classifies in microseconds.
"""

from __future__ import annotations

import re
from typing import Any

HEAD, TAIL = 3000, 1500  # characters scanned at each end of a long text
LAST_TURNS = 4

REACT_MARKER = re.compile(r"(?m)^[ \t>*#]*(?:Thought|Action|Action Input|Observation|Final Answer)[ \t]*:")
ACTION_LINE = re.compile(r"(?m)^[ \t>*#]*(?:Action|Action Input|Tool|Command|COMMAND|ACTION)[ \t]*:")
OBSERVATION_START = re.compile(r"^\s*(?:Observation|Result|Tool result|Output|Execution result|stdout|STDOUT)\s*:")
# Phrases with which instructions define a protocol the model must follow for execution,
# grouped under a cheap anchor substring: plain `in` checks on lowercased text cost about
# a microsecond per 4 KB, where one long alternation regex costs over a hundred.
DEFINITION_PHRASES = {
    "the following": (
        "access to the following",
        "use the following format",
        "you can call the following",
        "you can use the following tools",
    ),
    "available ": ("available tools", "available commands", "available actions", "available functions"),
    "to you": ("returned to you", "sent back to you", "fed back to you"),
    "execut": ("will be executed", "shall be executed", "be executed and"),
    "allowed commands": ("allowed commands",),
    "valid actions": ("valid actions",),
    "will be run and": ("will be run and",),
    "to use a tool": ("to use a tool",),
    "autonomous": ("you are an autonomous",),
    "access to these tools": ("access to these tools",),
}
JSON_REPLY = re.compile(
    r"(?:respond|reply|answer|output)(?: only)? (?:with|in) (?:a |one |exactly one )?(?:single )?(?:valid )?json"
)
TOOL_TAGS = ("<tool_call>", "<function_call>", "<tools>", "<|tool_call|>", "[TOOL_CALLS]", "<function=", "<tool_code>")
JSON_ACTION = re.compile(r'"(?:action|tool|tool_name|command|function_name)"\s*:\s*["{]')
CODE_BLOCK = re.compile(r"```(?:python|py|bash|sh|shell|sql|js|javascript)?\s*\n")
EXECUTION_OUTPUT = re.compile(
    r"(?i)^\s*(?:output|execution (?:result|output)|stdout|stderr|exit code|result of (?:running|execution)"
    r"|the code (?:returned|produced|printed)|traceback \(most recent call last\)|>>> )"
)
TRAILING_PROMPT = re.compile(r"(?:Thought|Action|Action Input)\s*:\s*$")


def bounded(text: str) -> str:
    return text if len(text) <= HEAD + TAIL else text[:HEAD] + "\n" + text[-TAIL:]


def text_of(content: Any) -> str:
    """The text of a message's content: a string or a list of text parts; anything else is empty."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                value = part.get("text")
                if isinstance(value, str):
                    parts.append(value)
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return ""


def defines(text: str) -> bool:
    """Does the text contain a phrase that defines a protocol for the model (cheap: substrings)?"""
    lower = text.lower()
    for anchor, phrases in DEFINITION_PHRASES.items():
        if anchor in lower and any(phrase in lower for phrase in phrases):
            return True
    return (
        "json" in lower
        and any(w in lower for w in ("action", "tool", "command"))
        and (JSON_REPLY.search(lower) is not None)
    )


def _react_markers(text: str) -> int:
    if "Action" not in text and "Thought" not in text and "Observation" not in text:
        return 0
    return len(REACT_MARKER.findall(text))


def _defines_protocol(text: str) -> str | None:
    """Does this instruction text define an executable protocol? Returns the reason code."""
    react = _react_markers(text) >= 2 and ("Observation" in text or "Action Input" in text)
    defined = defines(text)
    if react and (defined or "Action:" in text):
        return "react_protocol"
    if any(tag in text for tag in TOOL_TAGS):
        return "command_protocol"
    if defined:
        lower = text.lower()
        if (
            JSON_ACTION.search(text)
            or ACTION_LINE.search(text)
            or "```" in text
            or "command" in lower
            or "tool" in lower
        ):
            return "command_protocol"
    return None


def text_protocol(turns: list[tuple[str, str]]) -> tuple[str, float] | None:
    """(reason, confidence) when the conversation continues a text-protocol agent loop, else None.

    `turns` are (role, text) in order; role is system, user or assistant (tool results were
    handled structurally before this runs).
    """
    if not turns:
        return None
    instructions = [bounded(text) for role, text in turns if role == "system"]
    first_user = next((bounded(text) for role, text in turns if role == "user"), "")
    recent = [(role, bounded(text)) for role, text in turns[-LAST_TURNS:] if role != "system"]

    loop = _running_loop(recent)
    for text in instructions:
        reason = _defines_protocol(text)
        if reason is not None:
            return (loop or reason), 0.9 if loop else 0.8
    if loop is not None:
        return loop, 0.9
    # A prompt template sent as the user turn (LangChain-style): a definition plus an open scratchpad.
    if first_user and defines(first_user):
        reason = _defines_protocol(first_user)
        if reason is not None and (TRAILING_PROMPT.search(first_user.rstrip()[-40:]) or reason == "command_protocol"):
            return reason, 0.8
    return None


def _running_loop(recent: list[tuple[str, str]]) -> str | None:
    """An assistant turn that emitted an action or code, followed by a turn carrying its result."""
    for index, (role, text) in enumerate(recent[:-1]):
        if role != "assistant":
            continue
        following = [t for r, t in recent[index + 1 :] if r == "user"]
        if not following:
            continue
        reply = following[0]
        if ACTION_LINE.search(text) and (OBSERVATION_START.search(reply) or _react_markers(reply)):
            return "react_protocol"
        if JSON_ACTION.search(text) and OBSERVATION_START.search(reply):
            return "command_protocol"
        if CODE_BLOCK.search(text) and EXECUTION_OUTPUT.search(reply):
            return "code_execution_loop"
    # A scratchpad carried inside the last user turn: ...Observation: ...\nThought:
    last_role, last_text = recent[-1]
    if last_role == "user" and TRAILING_PROMPT.search(last_text.rstrip()[-40:]) and "Observation:" in last_text:
        return "react_protocol"
    return None


def quotes_protocol(turns: list[tuple[str, str]]) -> bool:
    """Protocol words appear, but only as content (a pasted log, a ticket): worth a lower confidence."""
    return any(role == "user" and _react_markers(bounded(text)) >= 2 for role, text in turns)
