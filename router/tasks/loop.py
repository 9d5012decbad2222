"""The loop signal: the model's previous output came back with new tool or environment output, at machine pace.

What marks an agent run, whatever its framework, is visible only across requests: its answer — a tool
call, or an action written in text (ReAct's `Action:`, XML tool tags, DSPy field markers, a code block
to run, an edit block to apply) — comes back followed by what running it produced (a tool message, a
`function_call_output`, or a user turn that starts `Observation:`, `<tool_response>`, `Execution logs:`,
a traceback ...), and it comes back fast: measured agent loops send the next request 8–20 ms after the
answer plus whatever the tool itself takes, while a person needs seconds to minutes to read and type.
`tasks.machine_pace_s` (default 5 s) is the line.

Speed alone is not a loop: a scripted program sends its next plain user message within milliseconds.
New text alone is not a loop either: a person may paste a traceback into a chat. Both are required.
"""

from __future__ import annotations

import re

from classifier.text import CODE_BLOCK, JSON_ACTION, TOOL_TAGS, XML_TOOL
from metering.task_atoms import KIND, Atom, Kind
from router.tasks.index import ACTED, CALLS, Entry

_OUTPUT, _MESSAGE = Kind.OUTPUT, Kind.MESSAGE
HEAD, TAIL = 4000, 1500  # where an action or an observation is looked for in a long text

# An action written in text, at a line start: ReAct, command protocols, smolagents' code step.
ACTION_LINE = re.compile(r"(?m)^[ \t>*#`]*(?:Action|Action Input|Tool|Command|Code|Act)[ \t]*[:：]")
DSPY_FIELD = re.compile(r"\[\[ ## [\w ]{1,40} ## \]\]")
# Environment output at a line start, or a tag that carries it.
OBSERVATION_LINE = re.compile(
    r"(?im)^[ \t>*#`]*(?:observation|result|tool (?:result|output)|output|execution (?:result|output|logs)"
    r"|stdout|stderr|exit ?code|return ?code|command output|code output|error|exception|traceback)"
    r"(?:[ \t]*[:：]|[ \t]*\(most recent call last\))"
)
OBSERVATION_TAGS = re.compile(
    r"<(?:tool_response|tool_result|function_results?|observation|output|stdout|stderr|returncode|exception|error"
    r"|execution_result)\b"
)
FAILED_EDIT = re.compile(r"(?i)failed to (?:exactly )?(?:match|apply)|did not apply|no such file or directory")


def _window(text: str) -> str:
    return text if len(text) <= HEAD + TAIL else text[:HEAD] + "\n" + text[-TAIL:]


# Every pattern `wrote_action` looks for holds one of these characters (`:` or `：` ends an action line, `<` or `[`
# opens a tool tag, a backquote a code block, `"` a JSON key): a text without any of them is no action, found with
# one scan in C instead of six (most answers are such: "ok", a sentence, a short reply).
ACTION_CHARS = re.compile(r'[:：<\[`"]')


def wrote_action(text: str) -> bool:
    """Does an answer's text ask its client to act (run a tool, execute code, apply an edit)?"""
    if not text or ACTION_CHARS.search(text) is None:
        return False
    text = _window(text)
    return bool(
        ACTION_LINE.search(text)
        or any(tag in text for tag in TOOL_TAGS)
        or XML_TOOL.search(text)
        or CODE_BLOCK.search(text)
        or JSON_ACTION.search(text)
        or DSPY_FIELD.search(text)
    )


def environment_output(text: str) -> bool:
    """Does a user turn return what running something produced?"""
    if not text:
        return False
    text = _window(text)
    return bool(
        OBSERVATION_LINE.search(text)
        or OBSERVATION_TAGS.search(text)
        or DSPY_FIELD.search(text)
        or FAILED_EDIT.search(text)
    )


def loop_signal(new: list[Atom], previous: Entry, gap_s: float, machine_pace_s: float) -> bool:
    """Is this continuation (its `new` atoms, after `previous` answer) a turn of an agent loop?"""
    if gap_s > machine_pace_s:
        return False  # a person's pace: whatever it carries, someone read the answer first
    for atom in new:  # a loop, not `any(...)`: once per continuation, and a generator costs more than the check
        if atom[KIND] == _OUTPUT:
            return True  # a tool's output, in the API's own shape
    user_turns = [text for kind, ref, _, text in new if kind == _MESSAGE and ref == "user"]
    if not user_turns:
        return False
    if previous[CALLS]:
        return True  # the calls it asked for came back as a user turn: a client that speaks tools in text
    return previous[ACTED] and any(environment_output(text) for text in user_turns)
