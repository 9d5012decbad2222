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
finds every instruction phrase in one Aho-Corasick pass, so a 64 KB request classifies in microseconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import ahocorasick_rs

from classifier import grammar, loop_roles

HEAD, TAIL = 6000, 2000  # ReAct steps and loop evidence are read in these windows of a long text
PHRASE_HEAD, PHRASE_TAIL = 3000, 1000  # a window (lowercased) for quote openers and a user's task
INSTRUCTION_HEAD, INSTRUCTION_TAIL = 1500, 500  # the phrase window of instructions: a definition opens or closes them
LAST_TURNS = 6  # a running loop is looked for in the last few turns
IMAGE = "<image>"  # an image part, as `text_of` renders it
IMAGE_PART_TYPES = frozenset({"image_url", "input_image", "image"})
MANY_TAGS = 64  # past this many XML-like tags, a text is not read as XML tool usage
TAG_VISITS = 8  # past this many "<", tool-call tags are looked for by one automaton pass
# Past this many candidates, a capitalised marker is looked for with one substring search: each candidate visited
# costs a Python-level step (≈ 3,000 instructions under callgrind), the search ≈ 3 per character, and prose puts
# a capital T at most sentence starts ("The …"), so at 32 a 3 KB turn paid 75,000 instructions for "Tool" alone.
MANY_CAPITALS = 4
SHORT_TEXT = 512  # below this, a marker is looked for with one substring search from the start

# ReAct markers at line start (the format as the model must emit it) ...
# Line-start patterns begin with a literal newline (texts are searched as "\n" + text): sre then
# jumps between newlines instead of trying a multiline `^` at every character.
REACT_MARKER = re.compile(r"\n[ \t>*#`'\"-]*(Thought|Action|Action Input|Observation|Final Answer|Code)[ \t]*[:：]")
# ... or quoted inside a sentence, as smolagents' "a cycle of 'Thought:', 'Code:', and 'Observation:'".
QUOTED_STEPS = ("Thought", "Action", "Action Input", "Observation", "Code")
QUOTES = "'\"`"
ACTION_LINE = re.compile(r"\n[ \t>*#]*(?:Action|Action Input|Tool|Command|COMMAND|ACTION|Code)[ \t]*:")
ACTION_WORDS = ("Action", "ACTION", "Tool", "Command", "COMMAND", "Code")
STEP_MARKERS = ("Action", "Observation", "Code")  # a ReAct layout names at least one of these
OBSERVATION = ("Observation",)
OBSERVATION_START = re.compile(
    r"(?i)^\s*(?:(?:observation|result|tool result|tool output|output|execution (?:result|output|logs)|stdout|stderr"
    r"|exit ?code|return code|command output|code output|error|format error"
    r"|(?:[\w-]+ ){0,2}(?:output|result|response|error)s?)\s*[:：]"  # "API output:", "Tool response:"
    r"|<(?:returncode|output|exception|error|observation|tool_response|stdout)>|\[[\w .-]{1,40}\] result)"
)
# A tool call serialised into an assistant's text, JSON or Python repr: {'name': 'f', 'arguments': {...}}.
SERIALISED_CALL = re.compile(
    r"""['"]name['"]\s*:\s*['"][\w.-]{1,64}['"]\s*,\s*['"](?:arguments|args|parameters|input)['"]\s*:"""
)
# What a client sends back after applying an edit: a linter's `path:line:col:` report, a failed apply, a traceback.
EDIT_FEEDBACK = re.compile(
    r"(?im)^[\w./-]+:\d+:(?:\d+:)? |did not apply|failed to (?:match|apply)|traceback \(most recent|^#+ [^\n]*error"
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
    "<<<<<<< SEARCH",  # Aider's edit blocks: the client applies them to files
)
TAG_STARTS = tuple(tag for tag in TOOL_TAGS if tag.startswith("<"))
# A tool invoked with XML tags, one tag per parameter on its own line (Cline, Roo Code, ...):
# <read_file>\n<path>src/app.py</path>
XML_TOOL = re.compile(r"<([a-z][a-z0-9_]{2,40})>[ \t]*\r?\n[ \t]*<([a-z][a-z0-9_]{1,40})>")
HTML_TAGS = frozenset(
    {"html", "body", "head", "div", "span", "table", "thead", "tbody", "tr", "td", "th", "ul", "ol", "li", "dl", "dt"}
    | {"dd", "section", "article", "nav", "header", "footer", "main", "form", "select", "option", "pre", "code", "p"}
    | {"blockquote", "figure", "svg", "g", "script", "style", "xml", "root", "item", "items", "data", "row"}
    | {"em", "strong", "kbd", "mark", "small", "sup", "sub", "h1", "h2", "h3", "h4", "h5", "h6", "title", "label"}
)
JSON_ACTION = re.compile(r'"(?:action|tool|tool_name|command|function_name|function|name)"\s*:\s*["{]')
JSON_ACTION_KEYS = re.compile(r'"(?:action|tool|tool_name|command|function_name|function|tool_input|action_input)"')
CODE_BLOCK = re.compile(r"```[ \t]*[\w+-]*[ \t]*\n")
EXECUTION_OUTPUT = re.compile(
    r"(?i)^\s*(?:output|execution (?:result|output|logs)|stdout|stderr|exit ?code|code output"
    r"|result of (?:running|execution)|the code (?:returned|produced|printed)"
    r"|traceback \(most recent call last\)|>>> |\$ |observation)"
)
TRAILING_PROMPT = re.compile(r"(?:Thought|Action|Action Input|Code|Begin!?)(?: \d{1,2})?\s*[:：]?\s*$")
PROSE_START = re.compile(r"^[A-Za-z][a-z']*,? (?:[a-z'][\w'-]*,? ){2,}")
ADDRESS = re.compile(
    r"(?i)^[\W_]*(?:(?:system|instructions?)\W*)?(?:you are|you're|you have access|you can (?:use|call|run|execute)"
    r"|you will|you must|your task|answer the following questions|act as|tu es|vous êtes|du bist|eres un|sei un"
    r"|you (?:create|perform|reorder|keep|decide|choose|select|plan|manage|maintain|play|work|help|write)\b)"
)

# Words of agency in instructions that no rule read as a protocol: where an agent in an unseen grammar lands.
AGENCY_WORDS = ("tool", "agent", "action", "observation", "function", "command", "execut", "trajector", "[[ ")
# Instruction phrases, lowercase, grouped by what they say about the loop. All of them are found in
# one pass (`PHRASE_SEARCH`): a regex alternation would try each phrase at every position.
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
    # observations that are screens, histories or tool results handed back on the next turn
    "action history",
    "your previous action",
    "previous actions",
    "screenshot",
    "iterative loop",
    "agent_history",
    "browser_state",
    "result of that tool use",
    "result of the tool use",
    "result of each tool",
    "receive the result",
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
    "action space",
    "set of tools",
    "these tools",
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
    "output format",
    "exactly one",
    "one tool per message",
    "formatted using xml",
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
    # the model's actions are run for it, in so many words
    "every action is executed",
    "each action is executed",
    "actions are executed",
    "command will be executed",
    "commands will be executed",
    "executed in a new subshell",
    "can execute bash",
    "can execute shell",
    "can execute commands",
    "can interact with a computer",
    "tools that are executed",
    "executed upon the user's approval",
    "one tool per message",
    "operate in an iterative loop",
    "perform the next action",
)
HUMAN_EXECUTOR = (
    "should type",
    "their terminal",
    "copy and paste",
    "copy-paste",
    "by the analyst",
    "by the engineer",
    "the engineer should",
    "the user should run",
    "for them to run",
)
PLANNING = ("plan of action", "high-level plan", "step-by-step plan", "update your plan", "make a plan", "updated plan")
AUTONOMY = ("autonomous", "autonomously", "agent loop", "step by step until", "until the task is")

# The groups as sets, for the tests of which groups the phrases found fall in: `found.isdisjoint(a_tuple)` hashes
# and looks up every phrase of the tuple even when nothing was found (≈ 5,000 instructions for STRONG), where
# `found.isdisjoint(a_frozenset)` walks the smaller side, usually the few phrases found.
_STRONG, _FEEDBACK, _EXECUTION, _INVENTORY = (
    frozenset(STRONG),
    frozenset(FEEDBACK),
    frozenset(EXECUTION),
    frozenset(INVENTORY),
)
_FORMAT, _PLANNING, _AUTONOMY = frozenset(FORMAT), frozenset(PLANNING), frozenset(AUTONOMY)
_HUMAN_EXECUTOR, _AGENCY_WORDS = frozenset(HUMAN_EXECUTOR), frozenset(AGENCY_WORDS)


def ends(text: str, head: int, tail: int) -> str:
    """The text's first `head` and last `tail` characters joined by a newline; the text itself when that is all of it.

    One join copies each end once, where `a + "\n" + b` copies the head a second time (a UCS-2 text of 8 KB
    spent ≈ 50,000 instructions per classification in such copies).
    """
    return text if len(text) <= head + tail else "\n".join((text[:head], text[-tail:]))


def bounded(text: str) -> str:
    # `ends(text, HEAD, TAIL)`, with the length test inline: called several times per request, mostly on short texts
    return text if len(text) <= HEAD + TAIL else "\n".join((text[:HEAD], text[-TAIL:]))


def text_of(content: Any) -> str:
    """The text of a message's content: a string or a list of parts; images read as `IMAGE`.

    A screenshot sent back after an action is a computer-use agent's observation, so an image
    part is kept as a placeholder rather than dropped.
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                value = part.get("text")
                if isinstance(value, str):
                    parts.append(value)
                elif part.get("type") in IMAGE_PART_TYPES:
                    parts.append(IMAGE)
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return ""


def _has_marker(text: str, markers: tuple[str, ...]) -> bool:
    """Is one of these capitalised markers ("Observation", "Action", ...) in the text? At memchr speed in prose.

    A substring search walks prose almost one character at a time when the marker is made of
    common letters (≈ 5 µs for 8 KB); its capital is rare, so the few places where it occurs are
    found by single-character searches and compared. Past MANY_CAPITALS of them, one substring
    search takes over from there. Below SHORT_TEXT characters the substring search is the cheaper.
    """
    if len(text) < SHORT_TEXT:
        for marker in markers:
            if marker in text:
                return True
        return False
    for marker in markers:
        capital = marker[0]
        at = text.find(capital)
        for _ in range(MANY_CAPITALS):
            if at == -1 or text.startswith(marker, at):
                break
            at = text.find(capital, at + 1)
        if at != -1 and text.find(marker, at) != -1:
            return True
    return False


def _react_steps(text: str, enough: Callable[[set[str]], bool]) -> set[str]:
    """The distinct ReAct step names a text lays out, at line start or quoted in a sentence.

    Reading stops once the steps found are `enough` for the caller (a template's steps are
    usually all in its first lines): the caller's finding is the same as on the full set.
    """
    steps: set[str] = set()
    if not _has_marker(text, STEP_MARKERS):
        return steps
    for match in REACT_MARKER.finditer("\n" + text):
        steps.add(match.group(1))
        if enough(steps):
            return steps
    if ":'" not in text and ':"' not in text and ":`" not in text:
        return steps  # the quoted form is only looked for when it can be there
    raw = text.encode("utf-8", "surrogatepass")
    return steps | {QUOTED_STEP_NAMES[index] for index, _, _ in QUOTED_STEP_SEARCH.find_matches_as_indexes(raw)}


def _is_react(steps: set[str]) -> bool:
    """Action (or Code) and Observation: the model acts, the environment answers."""
    return "Observation" in steps and bool(steps & {"Action", "Action Input", "Code"})


def _lays_out_react(text: str) -> bool:
    """The text lays out ReAct's cycle: an Observation step and an Action (or Code) step."""
    return _has_marker(text, OBSERVATION) and _is_react(_react_steps(text, _is_react))


# The first instruction text of a classification whose ReAct layout was read, and the answer.
_NOTHING_READ: tuple[str, bool] = ("", False)
_last_react_layout = _NOTHING_READ


def _instructions_lay_out_react(text: str, window: str | None = None) -> bool:
    """`_lays_out_react(bounded(text))`, remembered for the first text asked about (`window` when at hand).

    A system prompt that quotes a ReAct template (retrieved context, a log to judge) is read for it twice in
    one classification: as instructions (`defines_protocol`), then as quoted content (`quotes_protocol`),
    ≈ 53,000 instructions each at 8 KB. The same string object gives the same answer (strings do not change,
    and the one remembered is kept alive, so its identity is not reused); one tuple is read and replaced
    whole, so concurrent classifications can only miss, never take another text's answer. `text_protocol`
    forgets it as it starts: a caller classifying the same body object again (a benchmark) reads it again, as
    a request parsed afresh would be. Only the first text is kept: the instructions' own part, read again
    without their quoted material, must not push out the whole text that `quotes_protocol` asks about.
    """
    global _last_react_layout
    last = _last_react_layout
    if last[0] is text:
        return last[1]
    found = _lays_out_react(bounded(text) if window is None else window)
    if last is _NOTHING_READ:
        _last_react_layout = (text, found)
    return found


def _two_or_more(steps: set[str]) -> bool:
    return len(steps) >= 2


# Every instruction phrase, found in one pass over a window: an Aho-Corasick automaton (a DFA over
# UTF-8 bytes) reports each phrase that occurs, overlapping matches included, so a group is present
# exactly when one of its phrases is, as `any(phrase in lower for phrase in group)` would say, for one
# scan instead of dozens.
PHRASES = tuple(
    dict.fromkeys(
        STRONG
        + FEEDBACK
        + EXECUTION
        + INVENTORY
        + FORMAT
        + AUTONOMY
        + PLANNING
        + HUMAN_EXECUTOR
        + grammar.CALLABLE_PHRASES
        + grammar.PLAN_PHRASES
        + grammar.REPLY_FORMAT
        + grammar.ACTION_HISTORY
        + grammar.APPLIED
        + loop_roles.PHRASES
        + AGENCY_WORDS
    )
)
PHRASE_SEARCH = ahocorasick_rs.BytesAhoCorasick(
    [phrase.encode() for phrase in PHRASES], implementation=ahocorasick_rs.Implementation.DFA
)
# A step name quoted in a sentence, as smolagents' "a cycle of 'Thought:', 'Code:', and 'Observation:'":
# every quoted form as one literal, found left to right without overlaps as a regex scan would
# (at most one form can start at a given place), in one pass instead of a scan that stops at every quote.
QUOTED_STEP_FORMS = [(f"{a}{name}:{b}", name) for a in QUOTES for name in QUOTED_STEPS for b in QUOTES]
QUOTED_STEP_NAMES = tuple(name for _, name in QUOTED_STEP_FORMS)
QUOTED_STEP_SEARCH = ahocorasick_rs.BytesAhoCorasick(
    [form.encode() for form, _ in QUOTED_STEP_FORMS],
    matchkind=ahocorasick_rs.MatchKind.LeftmostFirst,
    implementation=ahocorasick_rs.Implementation.DFA,
)
TAG_SEARCH = ahocorasick_rs.BytesAhoCorasick(
    [tag.encode() for tag in TAG_STARTS], implementation=ahocorasick_rs.Implementation.DFA
)
# The only non-ASCII characters whose lowercase holds an ASCII one ("İ" -> "i̇", Kelvin sign -> "k");
# a test checks this against the whole of Unicode.
LOWER_TO_ASCII = ("\u0130", "\u212a")


def _ascii_lower(text: str) -> bytes:
    """`text.lower()` in UTF-8, as far as an ASCII needle can tell, at memory speed.

    `bytes.lower()` changes only A-Z; `str.lower()` looks every character up, ≈ 7 ns each in an
    accented text. The two agree on every ASCII substring unless the text holds one of
    `LOWER_TO_ASCII`. "surrogatepass" keeps a lone surrogate (json.loads lets one through) from raising.
    """
    if not text.isascii() and any(char in text for char in LOWER_TO_ASCII):
        return text.lower().encode("utf-8", "surrogatepass")
    return text.encode("utf-8", "surrogatepass").lower()


def _phrases_in(lower: bytes) -> set[str]:
    """The phrases of `PHRASES` that occur in a lowercased window (`_ascii_lower`)."""
    return {PHRASES[index] for index, _, _ in PHRASE_SEARCH.find_matches_as_indexes(lower, overlapping=True)}


# Where quoted material starts in an instruction text: what follows is content to work on
# (retrieved context, a trajectory to judge, a log to summarise, a transcript), not instructions
# to follow. All are literals, found together by one leftmost-first automaton: the first match it
# reports is the one that starts first.
QUOTE_OPENERS = (
    *(f"\n{label}:" for label in ("context", "documents", "trajectory", "transcript", "log", "user", "assistant")),
    "\nhuman:",
    *(f"<{word}" for word in ("context", "document", "retrieved", "trajectory", "transcript", "conversation", "log>")),
    *(f"here is the {word}" for word in ("trajectory", "agent", "log", "transcript", "conversation")),
    "\n[1] ",  # numbered sources or excerpts
    "\n### excerpts",
    "\nexcerpts:",
    "\nsources:",
    "\nsearch results:",
    "<begin conversation>",
    "retrieved context",
    "retrieved documents",
    '"""',
    "'''",
)
QUOTE_SEARCH = ahocorasick_rs.BytesAhoCorasick(
    [opener.encode() for opener in QUOTE_OPENERS],
    matchkind=ahocorasick_rs.MatchKind.LeftmostFirst,
    implementation=ahocorasick_rs.Implementation.DFA,
)
# An instruction that opens by asking for work on material: what the material says is not addressed to the model.
FRAMING = re.compile(
    r"(?i)^[\W_]*(?:(?:you are|you're|act as) (?:an? |the )?[\w -]{0,40}?(?:translator|summari[sz]er|classifier|judge"
    r"|grader|evaluator|detector|moderator|reviewer|proofreader|editor|critic|annotator)"
    r"|(?:please |can you |could you )?(?:translate|summari[sz]e|classify|judge|evaluate|grade|rate|score|assess"
    r"|review|detect|proofread|moderate|rewrite|paraphrase|critique|improve|explain|annotate|label|analy[sz]e"
    r"|extract|check whether|determine whether|decide whether|is this|does this|what does)"
    r"|you (?:translate|summari[sz]e|classify|judge|evaluate|grade|rate|score|assess|review|detect|proofread"
    r"|moderate|annotate|label|sort|tag)\b)"
)
# Instructions whose own output format is about material (an annotator writing `<tool_call>` labels): narrower
# than FRAMING, whose looser roles ("a coding assistant in the editor") also open real agent prompts.
MATERIAL_TASK = re.compile(
    r"(?i)^[\W_]*(?:(?:you are|you're|act as) (?:an? |the )?(?:[\w-]+ ){0,2}?(?:translator|summari[sz]er|classifier"
    r"|judge|grader|evaluator|detector|moderator|proofreader|annotat\w*|label+(?:er|ing))\b"
    r"|you (?:translate|summari[sz]e|classify|grade|annotate|label|detect|moderate|proofread)\b"
    r"|(?:please )?(?:translate|summari[sz]e|classify|annotate|label|proofread)\b)"
)
# A user turn that opens by presenting material ("Here's the system prompt of my agent. Can you…").
PRESENTING = re.compile(r"(?i)^[\W_]*(?:here(?:'s| is| are) (?:the|my|our|an?|this|some) |below is (?:the|my|our|a) )")


def defines_protocol(text: str, phrases_only: bool = False, seen: set[str] | None = None) -> str | None:
    """Does this instruction text define an executable protocol for the model? Returns the reason code.

    The whole text is read for tool tags (a 12 KB coding-agent prompt defines its XML tools
    thousands of characters in) with substring searches; ReAct steps and phrases are read in
    head and tail windows. Material after a quote opener ("Context:", "<trajectory>", ...) is not
    read as instructions: a text that defines a protocol is read again without its quoted part
    (most texts define none, and never pay for that). `phrases_only` reads only the strongest
    phrases (a grant to execute): in a user's own task, markers and weaker phrases are more often
    pasted content. The instruction phrases found are added to `seen` when it is given.
    """
    found: set[str] = set()
    reason = _defines(text, phrases_only, found)
    if seen is not None:
        seen |= found
    if reason is None:
        return None
    own = _without_quoted(text)
    return reason if own is text else _defines(own, phrases_only, set())


def _without_quoted(text: str) -> str:
    """The text before its quoted material (itself when nothing is quoted)."""
    phrases = ends(text, PHRASE_HEAD, PHRASE_TAIL)
    own_end = _quote_start(phrases)
    if own_end >= len(phrases):
        return text
    in_tail = len(text) > len(phrases) and own_end > PHRASE_HEAD
    return text[: len(text) - (len(phrases) - own_end) if in_tail else own_end]


def _defines(text: str, phrases_only: bool, found: set[str]) -> str | None:
    """The checks of `defines_protocol`, cheapest and most decisive first; the phrases read go into `found`.

    After the named protocols, two readings that do not depend on the protocol's tokens: an action
    grammar (callables and a reply slot naming one, `classifier.grammar`) and instructions that speak
    of the loop they run in (`classifier.loop_roles`). All phrases come from one automaton pass.
    """
    if phrases_only:  # a user's own task grants execution in so many words, in the second person
        long = len(text) > PHRASE_HEAD + PHRASE_TAIL
        head = ends(text, PHRASE_HEAD, PHRASE_TAIL)
        lower = _ascii_lower(head)
        if b"you" in lower:
            found |= _phrases_in(lower)
            if not found.isdisjoint(_STRONG):
                return _kind(lower)
        elif text.find("\n", 0, PHRASE_HEAD) == -1 and text.find("\n", max(0, len(text) - PHRASE_TAIL)) == -1:
            return None  # one paragraph lays out no callables, plan template or ledger: a person writing
        else:  # the readings below need only the instruction window: half the phrase pass
            windowed = len(text) > INSTRUCTION_HEAD + INSTRUCTION_TAIL
            head = ends(text, INSTRUCTION_HEAD, INSTRUCTION_TAIL)
            ascii_slices = long and len(lower) == PHRASE_HEAD + 1 + PHRASE_TAIL  # the two ends, one byte each
            if ascii_slices:  # one byte per character: the window's lowercase is two slices of the one at hand
                lower = b"\n".join((lower[:INSTRUCTION_HEAD], lower[-INSTRUCTION_TAIL:]))
            elif windowed:
                lower = _ascii_lower(head)  # else the text is its own window, and `lower` its lowercase
            found |= _phrases_in(lower)
        return _declared_or_inside_a_loop(bounded(text), head, found, own_task=True)
    head = ends(text, INSTRUCTION_HEAD, INSTRUCTION_TAIL)
    lower = _ascii_lower(head)
    window = bounded(text)
    if _instructions_lay_out_react(text, window):
        return "react_protocol"
    if _has_tool_tags(text) or _xml_tool_usage(text, lower):
        return "command_protocol"
    found |= _phrases_in(lower)
    return _by_phrases(window, lower, found) or _declared_or_inside_a_loop(window, head, found)


def _declared_or_inside_a_loop(window: str, head: str, found: set[str], own_task: bool = False) -> str | None:
    """An action grammar or a loop's internals; in a user's own task only the grammar no pasted prompt shows
    (evidence variables, a plan of callables), since a task often pastes a prompt or an API to work on."""
    if grammar.declares_action_grammar(window, head, found, strict=own_task):
        return "action_grammar"
    if loop_roles.inside_a_loop(found):
        return "loop_internal"
    return None


def _by_phrases(window: str, lower: bytes, found: set[str]) -> str | None:
    """The protocols instruction phrases name: a grant to execute, feedback, an inventory and a format, ..."""
    if not found.isdisjoint(_STRONG):
        return _kind(lower)
    feedback = not found.isdisjoint(_FEEDBACK)
    execution = not found.isdisjoint(_EXECUTION)
    inventory = not found.isdisjoint(_INVENTORY)
    if not feedback and not execution:
        # A planning step of a tool agent: callable tools laid out and a plan of action asked for.
        if inventory and not found.isdisjoint(_PLANNING) and (b"def " in lower or b"tool call" in lower):
            return "command_protocol"
        # Only the AutoGPT shape is left: a command list and a JSON reply naming one of them.
        if inventory and not found.isdisjoint(_FORMAT) and JSON_ACTION_KEYS.search(window):
            return "command_protocol" if (b"command" in lower or b"tool" in lower) else None
        return None
    output_format = not found.isdisjoint(_FORMAT) or JSON_ACTION.search(window) is not None
    if feedback and (execution or output_format or inventory):
        return _kind(lower)
    autonomy = not found.isdisjoint(_AUTONOMY)
    # A runbook or a command helper names a person who runs the output: not an agent.
    if execution and output_format and (autonomy or (inventory and found.isdisjoint(_HUMAN_EXECUTOR))):
        return _kind(lower)
    if autonomy and (b"execut" in lower or b"run any" in lower) and (b"code" in lower or b"command" in lower):
        return _kind(lower)
    return None


def _quote_start(text: str) -> int:
    """Where quoted material begins in an instruction text's lowercase; its length when nothing is quoted.

    The lowercase is taken bytewise (see `_ascii_lower`): it has the same length and the same
    ASCII characters as `text.lower()` unless the text holds one of `LOWER_TO_ASCII`.
    """
    lower = text.lower() if not text.isascii() and any(char in text for char in LOWER_TO_ASCII) else text
    raw = ("\n" + lower).encode("utf-8", "surrogatepass").lower()  # an opener on the first line is at a line start
    found = QUOTE_SEARCH.find_matches_as_indexes(raw)
    if not found:
        return len(lower)
    at = found[0][1]
    if not lower.isascii():  # a byte offset: count the characters before it
        at = len(raw[:at].decode("utf-8", "surrogatepass"))
    return max(0, at - 1)


def _has_tool_tags(text: str) -> bool:
    """A tool-call tag anywhere in the text.

    Single-character searches (memchr) gate the rest: a text with no "[" or "<" costs two of them.
    The first TAG_VISITS "<" are visited one by one; past that, one automaton pass reads the rest.
    """
    if "[" in text and "[TOOL_CALLS]" in text:
        return True
    at = text.find("<")
    for _ in range(TAG_VISITS):
        if at == -1:
            return False
        if text.startswith(TAG_STARTS, at):
            return True
        at = text.find("<", at + 1)
    return at != -1 and bool(TAG_SEARCH.find_matches_as_indexes(text[at:].encode("utf-8", "surrogatepass")))


def _xml_tool_usage(text: str, lower: bytes) -> bool:
    """A tool invoked as XML, one parameter tag per line, where the text speaks of tools (Cline, Roo Code, ...).

    The whole text is searched (the pattern starts with "<", so the scan jumps between them);
    "tool" is looked for in the instruction window or around the usage.
    """
    first = text.find("<")  # memchr: prose before the first tag is skipped at memory speed
    if first == -1:
        return False
    for count, match in enumerate(XML_TOOL.finditer(text, first)):
        outer, inner = match.group(1), match.group(2)
        if outer not in HTML_TAGS and inner not in HTML_TAGS and text.find(f"</{outer}>", match.end()) != -1:
            at = match.start()
            return b"tool" in lower or "tool" in text[max(0, at - 1000) : at + 1000].lower()
        if count >= MANY_TAGS:
            return False
    return False


def _kind(lower: bytes) -> str:
    if (b"python" in lower or b"code" in lower) and b"command" not in lower and b"tool" not in lower:
        return "code_execution_loop"
    return "command_protocol"


def framed_as_material(text: str) -> bool:
    """An instruction that asks for work on material (translate, judge, summarise, detect, ...)."""
    return FRAMING.match(text[:200]) is not None


def text_protocol(turns: list[tuple[str, str]], seen: set[str] | None = None) -> tuple[str, str] | None:
    """(reason, where) when the conversation continues or starts a text-protocol agent loop, else None.

    `turns` are (role, text) in order; role is system, user or assistant (tool results were
    handled structurally before this runs). `where` names the evidence, for calibration:
    `loop` (an action and its result in the history), `system` (defined by the instructions),
    `user_template` (a first user turn that addresses the model), `user_task` (a task whose
    own text grants execution). The instruction phrases read are added to `seen` when it is given.
    """
    global _last_react_layout
    _last_react_layout = _NOTHING_READ  # a classification starts afresh: remembered only for its `quotes_protocol`
    if not turns:
        return None
    # A loop, not a list comprehension (a call of its own in Python 3.11): most requests have a turn or two here.
    recent = []
    for turn in turns[-LAST_TURNS:]:
        if turn[0] != "system":
            recent.append(turn)
    loop = _running_loop(recent) if recent else None
    if loop is not None:
        return loop, "loop"
    material = False
    instructions: set[str] = set()
    for role, text in turns:
        if role == "system":
            if _readings is not None and len(text) <= READING_CHARS:  # a caller replaying its prompts asked for it
                reading = _readings.new.get(text)  # remembered with no layout to restore: read without the call
                if reading is None or reading[3] is not None:
                    reading = _system_reading(text)
                reason, phrases, framed = reading[0], reading[1], reading[2]
                instructions |= phrases
                if reason is not None:
                    if seen is not None:
                        seen |= instructions
                    return reason, "system"
                material = material or framed
                continue
            # an annotator's output format is not the model's action grammar
            reason = None if MATERIAL_TASK.match(text[:200]) else defines_protocol(text, seen=instructions)
            if reason is not None:
                _add(seen, instructions)
                return reason, "system"
            material = material or framed_as_material(text)
    if seen is not None:  # `_add`, inline: this runs for most requests without tools
        seen |= instructions
    if instructions and loop_roles.critic_of_a_writer(instructions, [turn for turn in turns if turn[0] != "system"]):
        return "loop_internal", "system"  # a reflection loop's critic, handed the writer's task and draft
    first_user = ""
    for role, text in turns:  # a loop, not `next()` of a generator: this runs for most requests without tools
        if role == "user":
            first_user = text
            break
    if not first_user or material:
        return None
    readings = _user_readings
    if readings is None or len(first_user) > READING_CHARS:
        first = _first_user_reading(first_user)
    else:
        first = readings.new.get(first_user)  # `Remembered.get`'s first look-up, inline: nearly every one is found
        if first is None:
            first = readings.get(first_user)
            if first is None:
                first = _first_user_reading(first_user)
                readings.put(first_user, first)
    if first is MATERIAL:
        return None
    found, phrases = first
    if seen is not None:
        seen |= phrases
    last = turns[-1][1]
    if found is None and turns[-1][0] == "user" and last is not first_user and last.count("?", 0, 4000) >= 2:
        found = _loop_prompt(last)  # a ledger asks its questions; one question is a person's follow-up
    return found


# What a text says, remembered across classifications while a caller asks for it (`remember_instructions`):
# `routetax audit` reads a log that replays an application's few system prompts on every line, and each step of a
# conversation repeats its first user turn (an agent's task) — reading them (a prompt's protocol, phrases and framing;
# a first user turn's framing, template and phrases) is most of what classifying a request without tools costs.
# Off by default: a live request's texts are read as they come, and the classifier's benchmarks measure that.
# Strings and small tuples only: per kind of text, two generations, each of at most READINGS texts and READING_BUDGET
# characters (a text longer than READING_CHARS is read as it comes), so at most 2 × 2 × 4 M characters are held.
SystemReading = tuple[str | None, frozenset[str], bool, bool | None]  # reason, phrases, framed, ReAct layout
READINGS = 2048
READING_CHARS = 32_768
READING_BUDGET = 4_000_000


class Remembered:
    """Readings of texts by their text, in two generations: a full generation becomes the old one (read from, and what
    is read there is carried over into the new), the one before is dropped."""

    __slots__ = ("new", "old", "chars")

    def __init__(self) -> None:
        self.new: dict[str, Any] = {}
        self.old: dict[str, Any] = {}
        self.chars = 0  # characters of the texts in `new`

    def get(self, text: str) -> Any:
        found = self.new.get(text)
        if found is None:
            found = self.old.get(text)
            if found is not None:
                self.put(text, found)
        return found

    def put(self, text: str, reading: Any) -> None:
        if len(self.new) >= READINGS or self.chars >= READING_BUDGET:
            self.old, self.new, self.chars = self.new, {}, 0
        self.new[text] = reading
        self.chars += len(text)


_readings: Remembered | None = None  # system prompts' readings (`SystemReading`)
_user_readings: Remembered | None = None  # first user turns' readings (`UserReading`)


def remember_instructions(on: bool = True) -> None:
    """Remember each system prompt's and each first user turn's reading across classifications from now on (`on`),
    or stop and forget them.

    The decisions are the same either way (a reading is a pure function of the text); only a text seen before is not
    read again."""
    global _readings, _user_readings
    _readings = Remembered() if on else None
    _user_readings = Remembered() if on else None


def _system_reading(text: str) -> tuple[str | None, frozenset[str], bool]:
    """The system prompt's protocol (None: it defines none), the instruction phrases read in it, and whether it
    frames material (`framed_as_material`): remembered, or read now and remembered."""
    global _last_react_layout
    readings = _readings
    assert readings is not None
    found = readings.new.get(text)  # `Remembered.get`'s first look-up, inline: nearly every prompt is found there
    if found is None:
        found = readings.get(text)
    if found is None:
        before = _last_react_layout
        phrases: set[str] = set()
        # an annotator's output format is not the model's action grammar
        reason = None if MATERIAL_TASK.match(text[:200]) else defines_protocol(text, seen=phrases)
        after = _last_react_layout
        layout = after[1] if after is not before and after[0] is text else None
        found = (reason, frozenset(phrases), reason is None and framed_as_material(text), layout)
        readings.put(text, found)
        return found[0], found[1], found[2]
    if found[3] is not None and _last_react_layout is _NOTHING_READ:  # as reading it would have left it
        _last_react_layout = (text, found[3])
    return found[0], found[1], found[2]


# A first user turn's reading (`_first_user_reading`): MATERIAL when it presents material, else its protocol and the
# instruction phrases read in it. Plain tuples of strings (no per-text container the garbage collector must visit).
UserReading = tuple[tuple[str, str] | None, frozenset[str]]
MATERIAL: UserReading = (None, frozenset())


def _add(seen: set[str] | None, found: set[str]) -> None:
    if seen is not None:
        seen |= found


def _first_user_reading(text: str) -> UserReading:
    """A first user turn as `text_protocol` reads it: MATERIAL when it presents material (nothing in it is the model's
    protocol), else its protocol (`_user_template`) and the instruction phrases read in it."""
    if framed_as_material(text) or PRESENTING.match(text):
        return MATERIAL
    phrases: set[str] = set()
    return _user_template(text, phrases), frozenset(phrases)


def _loop_prompt(text: str) -> tuple[str, str] | None:
    """A last user turn that asks about the loop itself (a ledger: who speaks next, is progress being made)."""
    lower = _ascii_lower(ends(text, INSTRUCTION_HEAD, INSTRUCTION_TAIL))
    if loop_roles.inside_a_loop(_phrases_in(lower), ledger=True) and not framed_as_material(text):
        return "loop_internal", "last_user"
    return None


def _user_template(text: str, seen: set[str] | None = None) -> tuple[str, str] | None:
    """A protocol defined in the first user turn: a template for a system-less model, or the task itself.

    A turn that starts by addressing the model ("You are...", "Answer the following questions...")
    or leaves the scratchpad open ("...Thought:") is a template; a turn that states the task and
    then grants the model execution in its own words (mini-swe-agent) is the task. A user quoting
    a prompt to review or a log to summarise was filtered out before (framed as material).
    """
    opening = ADDRESS.match(text) is not None
    open_scratchpad = TRAILING_PROMPT.search(_ending(text)) is not None
    template = opening or open_scratchpad
    reason = defines_protocol(text, phrases_only=not template, seen=seen)
    if reason is None:
        return None
    return reason, "user_template" if template else "user_task"


def _running_loop(recent: list[tuple[str, str]]) -> str | None:
    """An assistant turn that emitted an action or code, followed by a turn carrying its result."""
    for index, (role, text) in enumerate(recent[:-1]) if len(recent) > 1 else ():  # most: one turn, no pair
        if role != "assistant":
            continue
        reply = next((t for r, t in recent[index + 1 :] if r == "user"), None)
        if reply is None:
            continue
        reason = _emitted_action(bounded(text), bounded(reply))
        if reason is not None:
            return reason
    # A scratchpad carried inside the last user turn: ...Observation: ...\nThought:
    last_role, last_text = recent[-1]
    if (
        last_role == "user"
        and TRAILING_PROMPT.search(last_text[-400:].rstrip()[-40:])  # `_ending`, inline: on most requests
        and _has_marker(bounded(last_text), OBSERVATION)
        and not framed_as_material(last_text)
    ):
        return "react_protocol"
    return None


def _emitted_action(text: str, reply: str) -> str | None:
    """The reason code when `text` (an assistant turn) emitted an action that `reply` answers."""
    labelled = OBSERVATION_START.match(reply) is not None
    if _has_action_line(text) and (
        # an action answered by nothing is an empty tool result: a person does not send an empty turn
        labelled or not reply[:400].strip() or "Observation" in reply[:200] or _machine_output(reply)
    ):
        return "react_protocol"
    if "<" in text and reply[:400].lstrip().startswith("<") and _tagged_action(text):
        return "command_protocol"  # an action in tags of the agent's own grammar, its result in tags
    if "\n@@" in text and grammar.UDIFF.search("\n" + text) and EDIT_FEEDBACK.search(reply[:2000]):
        return "command_protocol"  # a diff the client applied, its lint report or failure back
    stripped = text.strip()
    bare_json = stripped.startswith("{") and JSON_ACTION.search(stripped) is not None
    if bare_json and (labelled or _machine_output(reply)):
        return "command_protocol"
    if _has_tool_tags(text) and (labelled or _machine_output(reply) or "failed to match" in reply):
        return "command_protocol"
    if "<" in text and _xml_tool_usage(text, b"tool") and (labelled or _machine_output(reply)):
        return "command_protocol"
    if labelled and "<code>" in text and "</code>" in text:
        return "code_execution_loop"  # a code blob in tags (smolagents), its execution logs back
    if CODE_BLOCK.search(text):
        if labelled or EXECUTION_OUTPUT.match(reply):
            return "code_execution_loop"
        # A reply that is nothing but a code block, answered by raw (non-prose) output.
        if stripped.startswith("```") and stripped.endswith("```") and _machine_output(reply):
            return "code_execution_loop"
    head = text[:2000]
    serialised = (grammar.has(head, '"name"') or grammar.has(head, "'name'")) and SERIALISED_CALL.search(head)
    if serialised and (labelled or _machine_output(reply)):
        return "command_protocol"  # a tool call the client rewrote as text (smolagents' "Calling tools: [...]")
    return None


def _tagged_action(text: str) -> bool:
    """A tag pair that is not HTML (`<tool>get_order</tool>`, not `<b>bold</b>`)."""
    match = grammar.PAIRED_TAG.search(text)
    return match is not None and match.group(1) not in HTML_TAGS


def _has_action_line(text: str) -> bool:
    """An Action / Command / Code line; substring anchors first, the multiline regex is costly."""
    if not _has_marker(text, ACTION_WORDS):
        return False
    return ACTION_LINE.search("\n" + text) is not None


def _ending(text: str) -> str:
    """The last 40 characters of a text, trailing whitespace aside (without copying a long text)."""
    return text[-400:].rstrip()[-40:]


def _machine_output(reply: str) -> bool:
    """Does a user turn look like program output (or a screenshot) rather than a person writing?"""
    head = reply[:400].lstrip()[:300]
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
    """Protocol words appear, but only as content (a pasted log, retrieved context): worth a lower confidence.

    Only the last few turns are read: this lowers a confidence, it never changes a label.
    """
    for role, text in turns[-LAST_TURNS:]:
        if role == "system" and _instructions_lay_out_react(text):
            return True  # a ReAct template inside quoted context
        if role == "user":
            window = text if len(text) <= HEAD + TAIL else bounded(text)  # `bounded`, inline
            if len(window) < SHORT_TEXT:  # `_react_steps`' first test (`_has_marker`'s short path), inline: most
                for marker in STEP_MARKERS:  # requests that come here have a short user turn or two naming no step
                    if marker in window:
                        break
                else:
                    continue
            if len(_react_steps(window, _two_or_more)) >= 2:
                return True
    return False


def speaks_of_agency(seen: set[str]) -> bool:
    """Did the instructions read by `text_protocol` use agent words? For calibration, never for the label.

    A single-turn decision on such a request is the one an agent in a grammar the rules do not know
    would get, so it is calibrated apart from plain chat.
    """
    return not seen.isdisjoint(_AGENCY_WORDS)
