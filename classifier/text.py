"""Text-protocol agents: loops that run without a `tools` parameter.

An agent can speak its protocol in plain text: ReAct's Thought / Action / Observation, a
JSON action format, shell commands, or code that is executed and whose output comes back
as a user turn. Words alone are not structure ("agent", "action", "tool" are everyday
words in tickets and questions), so the rules ask for one of two things:

- the protocol is *defined* for the model: instructions (system / developer prompt, or a
  user turn that opens by addressing the model, as templates for system-less models do)
  that give it an output format to act with *and* say the result comes back or the output
  is executed — or a format so specific it has no other use (ReAct's Observation step,
  tool-call tags such as `<tool_call>`);
- the loop is *visibly running*: an assistant turn emitted an action, a command or code,
  and the next user turn carries its result.

A user who pastes an agent log, a ReAct prompt to review, or a ticket about "the agent"
has neither. Scanning is bounded (the head and tail of each text, the last few turns) and
uses substring anchors before any regex, so a 32 KB request classifies in microseconds.
"""

from __future__ import annotations

import re
from typing import Any

HEAD, TAIL = 3000, 1500  # characters scanned at each end of a long text
LAST_TURNS = 4

# ReAct markers at line start (the format as the model must emit it) ...
# Line-start patterns begin with a literal newline (texts are searched as "\n" + text): sre then
# jumps between newlines instead of trying a multiline `^` at every character.
REACT_MARKER = re.compile(r"\n[ \t>*#`'\"-]*(Thought|Action|Action Input|Observation|Final Answer|Code)[ \t]*[:：]")
# ... or quoted inside a sentence, as smolagents' "a cycle of 'Thought:', 'Code:', and 'Observation:'".
QUOTED_STEP = re.compile(r"['\"`](Thought|Action|Action Input|Observation|Code):['\"`]")
ACTION_LINE = re.compile(r"\n[ \t>*#]*(?:Action|Action Input|Tool|Command|COMMAND|ACTION|Code)[ \t]*:")
ACTION_WORDS = ("Action", "ACTION", "Tool", "Command", "COMMAND", "Code")
OBSERVATION_START = re.compile(
    r"(?i)^\s*(?:observation|result|tool result|tool output|output|execution (?:result|output|logs)|stdout|stderr"
    r"|exit ?code|return code|command output|code output|error)\s*[:：]"
)
TOOL_TAGS = (
    "<tool_call>",
    "<function_call>",
    "<tools>",
    "<|tool_call|>",
    "[TOOL_CALLS]",
    "<function=",
    "<tool_code>",
    "<|python_tag|>",
    "<execute>",
    "<execute_",
    "<bash>",
    "<cmd>",
    "<command>",
    "<tool_response>",
)
JSON_ACTION = re.compile(r'"(?:action|tool|tool_name|command|function_name|function|name)"\s*:\s*["{]')
JSON_ACTION_KEYS = re.compile(r'"(?:action|tool|tool_name|command|function_name|function|tool_input|action_input)"')
CODE_BLOCK = re.compile(r"```[ \t]*(?:python3?|py|bash|sh|shell|console|zsh|sql|js|javascript|r|ipython)?[ \t]*\n")
EXECUTION_OUTPUT = re.compile(
    r"(?i)^\s*(?:output|execution (?:result|output|logs)|stdout|stderr|exit ?code|code output"
    r"|result of (?:running|execution)|the code (?:returned|produced|printed)"
    r"|traceback \(most recent call last\)|>>> |\$ |observation)"
)
TRAILING_PROMPT = re.compile(r"(?:Thought|Action|Action Input|Code|Begin!?)\s*[:：]?\s*$")
PROSE_START = re.compile(r"^[A-Za-z][a-z']*,? (?:[a-z'][\w'-]*,? ){2,}")
ADDRESS = re.compile(
    r"(?i)^[\W_]*(?:(?:system|instructions?)\W*)?(?:you are|you're|you have access|you can (?:use|call|run|execute)"
    r"|you will|you must|your task|answer the following questions|act as|tu es|vous êtes|du bist|eres un|sei un)"
)

# Instruction phrases, lowercase, grouped by what they say about the loop. Plain `in` checks
# on lowercased text cost about a microsecond per 4 KB, where long alternations cost far more.
FEEDBACK = (
    # the result of what the model emits comes back to it
    "returned to you",
    "sent back to you",
    "fed back to you",
    "given back to you",
    "provided to you",
    "passed back to you",
    "shown to you",
    "and reply with the output",
    "and send you the output",
    "send you the result",
    "reply with its output",
    "you will receive the",
    "you will get the output",
    "you will see the output",
    "you will be given the output",
    "you will then see",
    "output returned to you",
    "will be shown the",
    "after each action",
    "after each command",
    "the environment's response",
    "the environment will respond",
    "execution error",
    "at each round",
    "at each turn you will be given",
    "at each turn, you will be given",
    "you will be given the observation",
    "observation of the environment",
    "the environment will return",
    "output will be returned to you",
    "output will be shown to you",
    "output will be sent to you",
    "result will be shown to you",
    "results will be shown to you",
    "show you the output",
    "show you the result",
    "tell you the output",
    "tell you the result",
)
EXECUTION = (
    # the model's output is run somewhere
    "will be executed",
    "will be run",
    "gets executed",
    "be executed on",
    "executed in a",
    "execute any code",
    "executing code",
    "run any code",
    "can execute code",
    "can execute python",
    "can run code",
    "can run shell",
    "can run bash",
    "can run commands",
    "you can execute",
    "python interpreter",
    "code interpreter",
    "jupyter",
    "sandbox",
    "terminal",
    "command line",
    "shell command",
    "bash command",
)
INVENTORY = (
    # a set of tools / commands / actions the model chooses from
    "access to the following",
    "following tools",
    "following commands",
    "following functions",
    "following actions",
    "available tools",
    "available commands",
    "available functions",
    "available actions",
    "valid actions",
    "allowed commands",
    "allowed actions",
    "list of tools",
    "tools:",
    "commands:",
    "actions:",
    "functions:",
    "to use a tool",
    "call a function",
    "call one or more functions",
    "one of the following actions",
    "access to these tools",
)
FORMAT = (
    # a format the model must emit its action in
    "use the following format",
    "in the following format",
    "respond with",
    "reply with",
    "respond only",
    "reply only",
    "respond in json",
    "output only",
    "must output",
    "must respond",
    "must reply",
    "your response must",
    "your reply must",
    "each reply must",
    "each response must",
    "every reply must",
    "every response must",
    "format your output",
    "formatted as",
    "one command per",
    "exactly one command",
    "exactly one action",
    "one action per",
    "next action",
    "next command",
    "```bash",
    "```python",
    "```sh",
    "code block",
    "```",
)
STRONG = (
    # the model is told its code or commands will run and come back: no other reading of the prompt
    "execute any code",
    "run any code",
    "by executing code",
    "permission to execute",
    "can execute code",
    "can execute python",
    "can run code",
    "can run python",
    "can run shell commands",
    "can run bash",
    "executed on the user's machine",
    "execute commands on",
    "for the user to execute",
    "beyond executing the code",
    # first-person promises to run what the model writes, and step-by-step observation loops
    "i will run it",
    "i'll run it",
    "i will execute it",
    "i'll execute it",
    "i will run the",
    "i'll run the",
    "i will execute the",
    "i'll execute the",
    "i will run your",
    "i will execute your",
    "your shell prompt",
    "will then appear in",
    "available as input for the next step",
    "at each step you receive",
    "at each step, you receive",
    "at each step you will receive",
    "at each step, you will receive",
)
AUTONOMY = ("autonomous", "autonomously", "agent loop", "step by step until", "until the task is")


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


def _react_steps(text: str) -> set[str]:
    """The distinct ReAct step names a text lays out, at line start or quoted in a sentence."""
    if "Action" not in text and "Observation" not in text and "Code" not in text:
        return set()
    return set(REACT_MARKER.findall("\n" + text)) | set(QUOTED_STEP.findall(text))


def _is_react(steps: set[str]) -> bool:
    """Action (or Code) and Observation: the model acts, the environment answers."""
    return "Observation" in steps and bool(steps & {"Action", "Action Input", "Code"})


def _index(phrases: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Group phrases under the first anchor they contain, so absent anchors skip whole groups."""
    groups: dict[str, list[str]] = {}
    for phrase in phrases:
        anchor = next((a for a in ANCHORS if a in phrase), phrase)
        groups.setdefault(anchor, []).append(phrase)
    return tuple((anchor, tuple(group)) for anchor, group in groups.items())


def _has(lower: str, index: tuple[tuple[str, tuple[str, ...]], ...], anchors: dict[str, bool]) -> bool:
    for anchor, phrases in index:
        present = anchors.get(anchor)
        if present is None:
            present = anchors[anchor] = anchor in lower
        if present and any(phrase in lower for phrase in phrases):
            return True
    return False


# Anchor substrings, most selective first; each phrase is checked only when its anchor is present.
ANCHORS = (
    "execut",
    "observ",
    "environment",
    "interpreter",
    "jupyter",
    "sandbox",
    "terminal",
    "shell",
    "command",
    "tool",
    "action",
    "function",
    "```",
    "autonom",
    "round",
    "turn",
    "step",
    "run",
    "follow",
    "available",
    "respon",
    "reply",
    "output",
    "format",
    "you",
)
STRONG_INDEX = _index(STRONG)
FEEDBACK_INDEX = _index(FEEDBACK)
EXECUTION_INDEX = _index(EXECUTION)
INVENTORY_INDEX = _index(INVENTORY)
FORMAT_INDEX = _index(FORMAT)
AUTONOMY_INDEX = _index(AUTONOMY)
SCAN_HEAD, SCAN_TAIL = 1200, 600  # protocol definitions sit at the ends of a long prompt


def defines_protocol(text: str) -> str | None:
    """Does this instruction text define an executable protocol for the model? Returns the reason code.

    Checks run cheapest and most decisive first, and stop at the first verdict.
    """
    if "Observation" in text and _is_react(_react_steps(text)):
        return "react_protocol"
    if ("<" in text or "[TOOL" in text) and any(tag in text for tag in TOOL_TAGS):
        return "command_protocol"
    if len(text) > SCAN_HEAD + SCAN_TAIL:
        text = text[:SCAN_HEAD] + "\n" + text[-SCAN_TAIL:]
    lower = text.lower()
    seen: dict[str, bool] = {}
    if _has(lower, STRONG_INDEX, seen):
        return _kind(lower)
    feedback = _has(lower, FEEDBACK_INDEX, seen)
    execution = _has(lower, EXECUTION_INDEX, seen)
    if not feedback and not execution:
        # Only the AutoGPT shape is left: a command list and a JSON reply naming one of them.
        if JSON_ACTION_KEYS.search(text) and _has(lower, INVENTORY_INDEX, seen) and _has(lower, FORMAT_INDEX, seen):
            return "command_protocol" if ("command" in lower or "tool" in lower) else None
        return None
    output_format = _has(lower, FORMAT_INDEX, seen) or JSON_ACTION.search(text) is not None
    if feedback and (execution or output_format or _has(lower, INVENTORY_INDEX, seen)):
        return _kind(lower)
    autonomy = _has(lower, AUTONOMY_INDEX, seen)
    if execution and output_format and (autonomy or _has(lower, INVENTORY_INDEX, seen)):
        return _kind(lower)
    if autonomy and ("execut" in lower or "run any" in lower) and ("code" in lower or "command" in lower):
        return _kind(lower)
    return None


def _kind(lower: str) -> str:
    if ("python" in lower or "code" in lower) and "command" not in lower and "tool" not in lower:
        return "code_execution_loop"
    return "command_protocol"


def text_protocol(turns: list[tuple[str, str]]) -> tuple[str, float] | None:
    """(reason, confidence) when the conversation continues a text-protocol agent loop, else None.

    `turns` are (role, text) in order; role is system, user or assistant (tool results were
    handled structurally before this runs).
    """
    if not turns:
        return None
    recent = [(role, bounded(text)) for role, text in turns[-LAST_TURNS:] if role != "system"]
    loop = _running_loop(recent) if recent else None
    if loop is not None:
        return loop, 0.9
    for role, text in turns:
        if role == "system":
            reason = defines_protocol(bounded(text))
            if reason is not None:
                return reason, 0.8
    first_user = next((text for role, text in turns if role == "user"), "")
    if first_user:
        return _user_template(bounded(first_user))
    return None


def _user_template(text: str) -> tuple[str, float] | None:
    """A protocol defined in the first user turn, as templates for system-less models send it.

    Only when the turn starts by addressing the model ("You are...", "Answer the following
    questions...") or leaves the scratchpad open ("...Thought:"); a user quoting a prompt to
    review or a log to summarise does neither.
    """
    opening = ADDRESS.match(text) is not None
    open_scratchpad = TRAILING_PROMPT.search(text.rstrip()[-40:]) is not None
    if not opening and not open_scratchpad:
        return None
    reason = defines_protocol(text)
    if reason is None:
        return None
    if open_scratchpad or opening:
        return reason, 0.75
    return None


def _running_loop(recent: list[tuple[str, str]]) -> str | None:
    """An assistant turn that emitted an action or code, followed by a turn carrying its result."""
    for index, (role, text) in enumerate(recent[:-1]):
        if role != "assistant":
            continue
        reply = next((t for r, t in recent[index + 1 :] if r == "user"), None)
        if reply is None:
            continue
        reason = _emitted_action(text, reply)
        if reason is not None:
            return reason
    # A scratchpad carried inside the last user turn: ...Observation: ...\nThought:
    last_role, last_text = recent[-1]
    if last_role == "user" and "Observation" in last_text and TRAILING_PROMPT.search(last_text.rstrip()[-40:]):
        return "react_protocol"
    return None


def _emitted_action(text: str, reply: str) -> str | None:
    """The reason code when `text` (an assistant turn) emitted an action that `reply` answers."""
    labelled = OBSERVATION_START.match(reply) is not None
    if (labelled or "Observation" in reply[:200]) and _has_action_line(text):
        return "react_protocol"
    stripped = text.strip()
    bare_json = stripped.startswith("{") and JSON_ACTION.search(stripped) is not None
    if bare_json and (labelled or _machine_output(reply)):
        return "command_protocol"
    if any(tag in text for tag in TOOL_TAGS) and (labelled or _machine_output(reply) or "<tool_response>" in reply):
        return "command_protocol"
    if CODE_BLOCK.search(text):
        if EXECUTION_OUTPUT.match(reply):
            return "code_execution_loop"
        # A reply that is nothing but a code block, answered by raw (non-prose) output.
        if stripped.startswith("```") and stripped.endswith("```") and _machine_output(reply):
            return "code_execution_loop"
    return None


def _has_action_line(text: str) -> bool:
    """An Action / Command / Code line; substring anchors first, the multiline regex is costly."""
    if not any(word in text for word in ACTION_WORDS):
        return False
    return ACTION_LINE.search("\n" + text) is not None


def _machine_output(reply: str) -> bool:
    """Does a user turn look like program output rather than a person writing?"""
    head = reply.lstrip()[:300]
    if not head:
        return False
    if head[0] in "{[<$/":
        return True
    first_line = head.split("\n", 1)[0]
    if PROSE_START.match(first_line) or first_line.rstrip().endswith("?"):
        return False
    if "  " in first_line or "\t" in first_line:
        return True  # columns: ls -l, df, a table
    wordy = sum(c.isalpha() or c == " " for c in head)
    return wordy < 0.75 * len(head)


def quotes_protocol(turns: list[tuple[str, str]]) -> bool:
    """Protocol words appear, but only as content (a pasted log, a ticket): worth a lower confidence.

    Only the last few turns are read: this lowers a confidence, it never changes a label.
    """
    return any(role == "user" and len(_react_steps(bounded(text))) >= 2 for role, text in turns[-LAST_TURNS:])
