"""An action grammar declared in the instructions, whatever its tokens.

Agents that speak in text declare a grammar for their actions: field markers (`[[ ## next_tool_name ## ]]`),
XML tags (`<tool>` … `<tool_input>`), line labels (`Action:`), a JSON reply naming a tool (`{"tool_calls": …}`,
`{"name": …, "arguments": …}`), evidence variables (`#E1 = Search[…]`) or an edit format the client applies
(unified diffs, whole-file listings). The tokens change from one framework to the next; what does not is
the shape: the instructions lay out *callables* (a JSON list of tool specs, `Name[input]` or `name(args)`
lines, "the following tools") *and* a *slot* in the model's reply that names one of them. A reply format
with no callables (a summary with a title field) or callables with no slot (a support prompt listing
"available actions" for a person) is not an agent.

Everything here reads one bounded window of the text with a handful of regexes anchored on a rare
character ("[[", "<", "#E", '"name"'), so a prompt that declares nothing costs a few memchr scans.
"""

from __future__ import annotations

import re

# Words that make a marker's name an action slot: `next_tool_name`, `chosen_action`, `<tool>`, `Command:`.
ACTION_WORDS = frozenset({"tool", "action", "command", "function", "call", "api", "cmd"})
# A tag or a line label must be made of these and an action word: `Action Input:` and `<tool_input>` are slots,
# `Action items:` and `<function_description>` are not.
ARGUMENT_WORDS = frozenset({"input", "args", "arguments", "params", "parameters"})
OBSERVATION_WORDS = frozenset({"observation", "result", "output", "response"})
# Labels that name a callable in themselves (`TOOL:`, `✿FUNCTION✿:`); `Action:` may also be an intent's label.
CALLABLE_LABEL_WORDS = frozenset({"tool", "function", "command", "api", "cmd", "call"})
SLOT_WORDS = frozenset({"input", "name", "args", "arguments", "params", "parameters", "next", "use", "to", "chosen"})
FIELD_MARKER = re.compile(r"\[\[ ## ([A-Za-z_][\w]{0,40}) ## \]\]")
PAIRED_TAG = re.compile(r"<([a-z][a-z0-9_-]{1,30})>([^<\n]{0,80})</\1>")
# A line label, whatever decorates or numbers it: `Action:`, `**Tool name**:`, `✿FUNCTION✿:`, `Action 2:`.
LABEL = re.compile(r"\n[^\w\n]{0,4}([A-Z][A-Za-z_]{1,20}(?: [A-Za-z_]{1,20})?)(?: \d{1,2})?[^\w\s:]{0,3}[ \t]*[:：]")
EVIDENCE_VARIABLE = re.compile(r"#E(?:\d+|<\w+>)\s*=\s*<?\w+>?\s*\[")
# A plan's step with what it gathered: `#E1 = -3C, snow = Search[weather today]` (a ReWOO solver reads them).
RESOLVED_EVIDENCE = re.compile(r"#E\d+\s*=[^\n#]{0,200}?=\s*[A-Za-z_]\w{0,40}\[")
# Callables laid out: a JSON tool spec, or two or more `Name[input]` / `name(args)` lines.
JSON_SPEC_NAME = re.compile(r'"name"\s*:\s*(?:\{\s*"const"\s*:\s*)?"([\w.-]{1,64})"')
JSON_SPEC_BODY = re.compile(r'"(?:parameters|arguments|input_schema|args|properties)"\s*:')
SIGNATURE_LINE = re.compile(
    r"\n[ \t]*(?:\(\d+\)|\d+[.)]|[-*])?[ \t]*`?([A-Za-z_][\w.]{1,40}) ?[\[(][^\]\)\n]{0,80}[\])]`?[ \t]*[:,-]"
)
# A call in a fence in the prompt's own example of a reply: "the next action I will perform is ```click [1234]```".
FENCED_CALL = re.compile(r"```[ \t]*([A-Za-z_]\w{1,40}) ?[\[(]")
# A JSON reply that names a call: `{"tool_calls": [...]}`, or a name slot left as a placeholder for the model
# (`{"name": <the action's name>, "arguments": ...}`). Keys alone are not enough: a tool spec has "name" and
# "parameters" too, and an intent router's `{"action": "refund"}` picks a label that no model gets back.
JSON_REPLY_SLOT = re.compile(
    r'"(?:tool_calls|tool_call|function_call)"\s*:\s*[\[{]'
    r'|"name"\s*:\s*"?<[^>\n]{0,60}>"?\s*,\s*"(?:arguments|parameters|args|input)"'
)
# A JSON key left for the model to fill (`"action": $TOOL_NAME`, `"next_tool_name": "{next_tool_name}"`,
# `"command": "<cmd>"`): a slot when the key's name is one (`_is_slot`).
JSON_KEY_PLACEHOLDER = re.compile(
    r'"([A-Za-z_]{2,40})"\s*:\s*(?:"?(?:<|\.\.\.|\{\{|\{\w+\}|\$)|(?:string|str|number|integer|object|any)\b)'
)
# Callables listed one a line as `> name: what it does` / `- name: …` (LangChain's conversational agent).
NAMED_LINE = re.compile(r"\n[ \t]*[>*-][ \t]*`?([a-z][a-z0-9_.]{1,40})`?:[ \t]")
# Edit formats the client applies to files: a unified diff (`--- path` / `+++ path` / `@@`), a whole-file listing.
UDIFF = re.compile(r"\n--- \S[^\n]*\n\+\+\+ \S[^\n]*\n@@")
FILE_LISTING = re.compile(r"\n[\w./-]+/?[\w-]+\.[A-Za-z]{1,5}\n```[\w+-]*\n")
WHOLE_FILE_WORDS = ("complete", "entire", "full", "whole")
# A unified diff's parts named in prose, with no example to match `UDIFF`: "show a diff from `--- /dev/null` to
# `+++ path/to/new/file.ext`", "start each hunk with a `@@ ... @@` line".
UDIFF_PARTS = re.compile(r"(?:^|[\s`'\"(])--- [^\n]{0,200}?(?:^|[\s`'\"(])\+\+\+ ", re.MULTILINE | re.DOTALL)
# The edits the model writes are applied by a program, not by a person reading them: then what comes back
# (a failed apply, a lint report, the next request on the changed files) is the loop's next step.
APPLIED = (
    "patch tool",
    "apply cleanly",
    "applies cleanly",
    "will be applied",
    "are applied to",
    "applied automatically",
    "automatically applied",
    "apply your edits",
    "apply your changes",
    "apply your diff",
    "apply your patch",
    "applies your edits",
    "applies your changes",
    "applies your diff",
    "applies your patch",
)
# A plan asked for: with callables laid out, its steps are calls to run.
PLAN_PHRASES = (
    "create a plan",
    "make a plan",
    "make plans",
    "write a plan",
    "step-by-step plan",
    "step by step plan",
    "plan to solve",
    "plan for the task",
)
# The actions taken so far, handed back with the next step (a person lists no such history).
ACTION_HISTORY = ("action history", "previous actions", "actions so far", "actions taken so far")
# The reply is to be an action, in a format: what makes a fenced call in an example the reply's slot.
REPLY_FORMAT = ("next action", "one action at a time", "issue an action", "output format", "in the following format")
CALLABLE_PHRASES = (
    "following tools",
    "available tools",
    "tools:",
    "tools can be",
    "following functions",
    "available functions",
    "following actions",
    "action space",
    "following commands",
    "available commands",
    "supplied tools",
    "tools below",
    "tools available",
    "one of the tools",
    "available actions",
    "actions you can perform",
    "actions you can take",
    "tools you can use",
    "commands you can use",
    "functions you can call",
)

# The phrase groups as sets for `found.isdisjoint(...)`, which walks a tuple whole but a set's smaller side.
_ACTION_HISTORY, _PLAN_PHRASES, _APPLIED = frozenset(ACTION_HISTORY), frozenset(PLAN_PHRASES), frozenset(APPLIED)
_CALLABLE_PHRASES, _REPLY_FORMAT = frozenset(CALLABLE_PHRASES), frozenset(REPLY_FORMAT)


def declares_action_grammar(window: str, head: str, found: set[str], strict: bool = False) -> bool:
    """Does the instruction text declare callables and a reply slot that names one, or an edit format?

    `window` is the text's bounded window (`text.bounded`), `head` its instruction window and `found`
    the instruction phrases the phrase pass found there (`text.PHRASES`, which holds `CALLABLE_PHRASES`).
    Substrings are looked for from a rare first character (memchr), never by a scan of prose. `strict`
    (a user's own task, which often pastes a prompt or an API to work on) accepts only what no pasted
    material shows: evidence variables, or a plan asked of the callables.
    """
    if found.isdisjoint(_CALLABLE_PHRASES) and not _may_lay_out(window):
        return False  # callables are laid out only in a phrase or with one of these characters
    if strict:
        if not found.isdisjoint(_ACTION_HISTORY) and "next action" in found and ("{" in window or "[" in window):
            return True  # the model's own actions so far, as data, and its next one asked for (a browser agent)
        if has(window, "[[ ##") and _field_trajectory(window):
            return True  # the run's own trajectory in its field grammar: tool names and their observations
        if has(window, "#E") and len(RESOLVED_EVIDENCE.findall(window)) >= 2:
            return True  # the run's own plan with the evidence its calls gathered, whatever the tools are named
        names = _callables(window, head, found)
        if names is None:
            return False
        if _plans_with(window, found) or has(window, "#E") and _evidence(window):
            return True
        return bool(names) and '"' in window and _json_call(window)  # a JSON call format for listed callables
    if has(window, "[[ ##") and any(_names_action(field) for field in FIELD_MARKER.findall(window)):
        return True  # an output field that names the tool: the reply is an action
    if (has(window, "```") or has(window, "+++ ")) and _declares_edit_format(window, head, found):
        return True
    names = _callables(window, head, found)
    if names is None:
        return False
    return (
        _plans_with(window, found) or has(window, "#E") and _evidence(window) or _has_action_slot(window, names, found)
    )


def _may_lay_out(window: str) -> bool:
    """Could the text lay out callables, fields or an edit format without a callable phrase? Every such reading
    needs one of these characters: `_callables` (`"name"`, a signature's "(" or "[", a listed line's ":"),
    field markers (`[[ ##`), evidence variables (`#E`), JSON action history ("{", "["), fences and diffs ("`", "+").
    The instruction window (`head`) is cut from the same text's ends as the bounded window, and narrower: a
    character absent from the window is absent from it too.

    A short instruction ("Be brief.", "You are a helpful assistant.") has none of them, and then costs a few
    memchr searches instead of a dozen searches and function calls (≈ 15,000 instructions).
    """
    return (
        ":" in window
        or "(" in window
        or '"' in window
        or "[" in window
        or "{" in window
        or "#" in window
        or "`" in window
        or "+" in window
    )


def _field_trajectory(window: str) -> bool:
    fields = [_parts(field) for field in FIELD_MARKER.findall(window)]
    acted = any(not ACTION_WORDS.isdisjoint(parts) for parts in fields)
    return acted and any(not OBSERVATION_WORDS.isdisjoint(parts) for parts in fields)


def _json_call(text: str) -> bool:
    """A JSON reply with a key that names the call and one that carries its input (`action` / `action_input`)."""
    keys = [_parts(key) for key in JSON_KEY_PLACEHOLDER.findall(text)]
    named = any(not ACTION_WORDS.isdisjoint(parts) and parts <= ACTION_WORDS | SLOT_WORDS for parts in keys)
    return named and any(not ARGUMENT_WORDS.isdisjoint(parts) for parts in keys)


def _evidence(window: str) -> bool:
    return EVIDENCE_VARIABLE.search(window) is not None


def _plans_with(window: str, found: set[str]) -> bool:
    """A plan asked of the callables laid out (a planner whose steps are then run: LLMCompiler, ReWOO)."""
    return not found.isdisjoint(_PLAN_PHRASES)


def has(text: str, needle: str, visits: int = 16) -> bool:
    """`needle in text`, found from its first character (rare in prose: "[", "`", '"', "#") by memchr."""
    at = text.find(needle[0])
    for _ in range(visits):
        if at == -1:
            return False
        if text.startswith(needle, at):
            return True
        at = text.find(needle[0], at + 1)
    return at != -1 and needle in text[at:]


def _declares_edit_format(text: str, head: str, found: set[str]) -> bool:
    """An edit format the client applies to files: a unified diff (its example, or its parts named for a
    program that applies them), or a whole-file listing."""
    if has(text, "\n--- ") and UDIFF.search(text) is not None:
        return True
    if not found.isdisjoint(_APPLIED) and "@@" in text and has(text, "+++ ") and UDIFF_PARTS.search(text) is not None:
        return True
    if FILE_LISTING.search(text) is None:
        return False
    lower = head.lower()
    return "file" in lower and any(word in lower for word in WHOLE_FILE_WORDS)


def _callables(window: str, head: str, found: set[str]) -> set[str] | None:
    """The names of the callables the text lays out (possibly none when only a phrase says so), or None."""
    names: set[str] = set()
    if has(window, '"name"') and JSON_SPEC_BODY.search(window) is not None:
        names.update(JSON_SPEC_NAME.findall(window))
    if "(" in head or "[" in head:
        signatures = SIGNATURE_LINE.findall("\n" + head)
        if len(signatures) >= 2:
            names.update(signatures)
    if ":" in head and (">" in head or "-" in head or "*" in head):  # memchr gates before the line regex
        listed = NAMED_LINE.findall("\n" + head)
        if len(listed) >= 2:
            names.update(listed)
    if names:
        return names
    return names if not found.isdisjoint(_CALLABLE_PHRASES) else None


def _has_action_slot(text: str, names: set[str], found: set[str]) -> bool:
    """A slot in the reply format that names a callable: an action-named marker, or a marker filled with a name."""
    if has(text, "</"):
        for tag, inner in PAIRED_TAG.findall(text):
            if _is_slot(tag) or inner.strip() in names:
                return True
    labels = LABEL.findall("\n" + text)
    if any(_is_slot(label) for label in labels):
        # Callables only named by a phrase ("available actions") and an `Action:` line are also an intent
        # router's format; an agent's call carries its arguments, so then an argument slot must be there too.
        if names or any(not (ARGUMENT_WORDS | CALLABLE_LABEL_WORDS).isdisjoint(_parts(label)) for label in labels):
            return True
    if "```" in text and not found.isdisjoint(_REPLY_FORMAT) and any(n in names for n in FENCED_CALL.findall(text)):
        return True  # a fenced call in the reply format (a help bot's fenced examples are not its reply format)
    if '"' not in text:
        return False
    if JSON_REPLY_SLOT.search(text) is not None:
        return True
    return any(_is_slot(key) for key in JSON_KEY_PLACEHOLDER.findall(text))


def _names_action(name: str) -> bool:
    return not ACTION_WORDS.isdisjoint(_parts(name))


def _is_slot(name: str) -> bool:
    parts = _parts(name)
    return not ACTION_WORDS.isdisjoint(parts) and parts <= ACTION_WORDS | SLOT_WORDS


def _parts(name: str) -> set[str]:
    """A marker's words, singular: `next_tool_name` -> {next, tool, name}, `Actions` -> {action}."""
    return {part[:-1] if part.endswith("s") and len(part) > 3 else part for part in re.split(r"[_\s-]+", name.lower())}
