"""What a logged request says about the task it is a step of: the keys `metering.audit.task_groups` joins on.

The proxy decides a request's task at intake (docs/tasks.md): a name the client gave (`x-routetax-task`), the
Responses API's own chain (`previous_response_id`, `conversation`), or an implicit continuation — the request's
history extends an earlier request's history plus the answer it got. A log gives the same evidence, read once
per line while its body is at hand, and kept as a few 64-bit numbers (`TaskKeys`; the body is dropped right
after):

- `name`: LiteLLM's `session_id` column, an `x-routetax-task` header where the line logged the request's headers,
  or `x-routetax-task` in the metadata LiteLLM keeps of the request (`requester_metadata`, `spend_logs_metadata`);
- `previous`, `conversation`, `response`: the Responses chain (`response` from the logged answer's `id`);
- `history`: the digest of the request's history as the proxy normalises it (`metering.task_atoms`: the same
  atoms), and `answer`: of that history followed by the logged answer (0 where no answer was logged);
- `ends` / `starts`: the digests of the history up to where its latest runs of model-written atoms end (an
  earlier request's history *plus its answer*) and start (an earlier request's history alone: what a request
  without a logged answer can be matched by), latest first, `RUNS` of each.

Histories are scoped by the client's key where the log names one (LiteLLM's hashed `api_key`), as the proxy
scopes them by key. The digests are Python's own 64-bit hashes of the scope and the atoms in one tuple (a prefix:
the tuple cut short): they only ever meet other digests of the same run, and hashing a tuple of the atoms' strings
in C costs a fraction of the proxy's blake2b chain (which must agree across processes and replicas) on every line
of a log.
"""

from __future__ import annotations

from typing import Any, Literal, overload

from metering.audit.shape import bad_tools, malformed
from metering.task_atoms import SKIPPED_ROLES, Atom, Kind, arguments, chat_atoms, model_runs, responses_atoms

# The atoms' kinds as module names: a class attribute read off its class (`Kind.MESSAGE`) is a slower look-up than a
# module name in Python 3.11, and a line makes an atom or more of each of its messages and its answer.
_MESSAGE, _CALL, _OUTPUT = Kind.MESSAGE, Kind.CALL, Kind.OUTPUT
RUNS = 2  # the latest runs kept: the previous step, and the one before it when the previous step is not in the logs
TASK_HEADER = "x-routetax-task"


# A request's task keys: one flat tuple of 64-bit numbers (0: none), read by position — one object per line, held
# only until the tally has copied it into its arrays.
TaskKeys = tuple[int, ...]
NAME, PREVIOUS, CONVERSATION, RESPONSE, HISTORY, ANSWER, ENDS = range(7)  # task_groups._walk unpacks in this order
STARTS = ENDS + RUNS
WIDTH = STARTS + RUNS
NONE: TaskKeys = (0,) * WIDTH


def named(kind: str, value: Any) -> int:
    """A name (a session, a response id) as a number: the same text gives the same number within one run."""
    if not isinstance(value, str) or not value:
        return 0
    return hash((kind, value)) or 1


def answer_atoms(api: str, answer: Any) -> list[Atom] | None:
    """The logged answer as atoms: a chat answer's first choice's message, a response's `output`; None: no answer."""
    if not isinstance(answer, dict):
        return None
    if api == "responses":
        output = answer.get("output")
        if not isinstance(output, list):
            return None
        if len(output) == 1:  # one message of text parts (most answers): its one atom, without the general walk
            text = _plain_output(output[0])
            if text is not None:
                return [(_MESSAGE, "assistant", "", text)]
        return responses_atoms(output)
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    if (
        type(content) is str
        and content
        and not content.startswith("<think>")
        and not message.get("tool_calls")
        and type(message.get("function_call")) is not dict
    ):  # a plain text answer (most are): the one atom the normaliser makes of it, without its general walk
        return [(_MESSAGE, "assistant", "", content)]
    if (content is None or content == "") and type(message.get("function_call")) is not dict:
        calls = _calls(message.get("tool_calls"))  # tool calls alone (an agent's step): their atoms
        if calls is not None:
            return calls
    return chat_atoms([{**message, "role": "assistant"}])


def _calls(calls: Any) -> list[Atom] | None:
    """The atoms `chat_atoms` makes of a list of well-formed tool calls (None for anything else: its general walk)."""
    if type(calls) is not list or not calls:
        return None
    atoms: list[Atom] = []
    for call in calls:
        function = call.get("function") if type(call) is dict else None
        if type(function) is not dict:
            return None
        ref, name = call.get("id"), function.get("name")
        atoms.append((_CALL, ref if type(ref) is str else "", name if type(name) is str else "", arguments(function)))
    return atoms


def _plain_output(item: Any) -> str | None:
    """The text of a Responses output item that is an assistant message made only of `output_text` parts, when
    `responses_atoms` would make it one message atom with that text; None for anything else (the general walk)."""
    if type(item) is not dict or item.get("type") != "message" or item.get("role") != "assistant":
        return None
    content = item.get("content")
    if type(content) is not list:
        return None
    parts = []
    for part in content:
        if type(part) is not dict or part.get("type") != "output_text":
            return None
        text = part.get("text")
        if type(text) is not str:
            return None
        parts.append(text)
    text = "".join(parts)
    return text if text and not text.startswith("<think>") else None


@overload
def _chat_atoms(messages: Any, general: Literal[True] = True) -> tuple[list[Atom], bool]: ...
@overload
def _chat_atoms(messages: Any, general: bool) -> tuple[list[Atom], bool] | None: ...
def _chat_atoms(messages: Any, general: bool = True) -> tuple[list[Atom], bool] | None:
    """`chat_atoms(messages)`, and whether the model may have written any of them (False: none is the model's).

    The shapes most logged messages have — a user's or an assistant's text, a tool's text output, a system prompt (no
    atom), an assistant's step of well-formed tool calls — are made here without the general walk; any other message
    is walked by `chat_atoms` alone (it reads each message on its own, so the atoms are the same). `general=False`:
    None at the first message of another shape, or when `messages` is not a list with one at least — every shape
    made here passes the structure check (`metering.audit.shape`), so a list of only these needs no second walk."""
    if type(messages) is not list or not messages:
        return (chat_atoms(messages), False) if general else None  # no list, no atoms (the API refuses both)
    atoms: list[Atom] = []
    add = atoms.append
    written = False
    for message in messages:
        if type(message) is dict:
            role = message.get("role")
            content = message.get("content")
            if type(role) is str and type(content) is str and "tool_calls" not in message:
                if role in SKIPPED_ROLES:
                    continue
                if "function_call" not in message:
                    if role == "user":
                        add((_MESSAGE, role, "", content))
                        continue
                    if role == "assistant" and content and not content.startswith("<think>"):
                        add((_MESSAGE, role, "", content))
                        written = True
                        continue
                    if role == "tool":
                        ref = message.get("tool_call_id")
                        add((_OUTPUT, ref if type(ref) is str else "", "", content))
                        continue
            elif role == "assistant" and "function_call" not in message:  # an agent's step: text and tool calls
                calls = _calls(message.get("tool_calls"))
                if calls is not None and (content is None or (type(content) is str and content[:7] != "<think>")):
                    if content:
                        add((_MESSAGE, role, "", content))
                    atoms.extend(calls)
                    written = True
                    continue
        if not general:
            return None
        more = chat_atoms([message])
        if more:
            atoms.extend(more)
            written = True  # perhaps: model_runs tells
    return atoms, written


def keys_of(
    body: dict[str, Any],
    api: str,
    answer: Any = None,
    name: str | None = None,
    check: bool = False,
    *,
    scope: str | None = None,
    history: bool = True,
) -> TaskKeys | None:
    """The task keys of one logged request. `history=False`: the body is not the request's history (a LiteLLM
    `latest_turn` row keeps only the latest user message), so it joins by name alone. `check`: None when the body
    has a structure its API refuses (`metering.audit.shape.malformed`), checked in the same walk of its messages
    where they all have the common shapes (nearly every line): one walk of them, not two.

    A history's digest is the hash of its scope and its atoms in one tuple (`hash` walks it in C: the atoms' strings
    hash once each, and their hashes are cached), so a prefix's digest is the same tuple cut short — what an earlier
    request's history, or its history plus its answer, digests to when the later history extends it."""
    if api != "responses":
        if not history:
            return (named("name", name), 0, 0, 0, *NONE[HISTORY:])
        messages = body.get("messages")
        found = _chat_atoms(messages, False) if check else None
        if found is None:
            if check and malformed(body, api):
                return None
            found = _chat_atoms(messages)
        elif "tools" in body and bad_tools(body):
            return None
        atoms, written = found
        previous = conversation = response = 0
        replied = _chat_answer(answer) if type(answer) is dict else None
    else:
        if check and malformed(body, api):
            return None
        # `named` only where there is a value (most requests name neither): 0 for anything falsy, as `named` says
        previous = body.get("previous_response_id")
        previous = named("response", previous) if previous else 0
        talk = body.get("conversation")
        conversation = named("conversation", talk.get("id") if isinstance(talk, dict) else talk) if talk else 0
        response = named("response", answer.get("id")) if isinstance(answer, dict) else 0
        if not history:
            return (named("name", name), previous, conversation, response, *NONE[HISTORY:])
        items = body.get("input")
        if type(items) is str:  # one user message
            atoms, written = [(_MESSAGE, "user", "", items)], False
        else:
            atoms, written = responses_atoms(items), True  # model_runs tells
        replied = answer_atoms(api, answer)
    scoped = _SCOPES.get(scope)
    if scoped is None:
        scoped = _scoped(scope)
    asked = (scoped, *atoms)
    digest = hash(asked) or 1
    answered = (hash((*asked, *replied)) or 1) if replied else 0
    task = named("name", name) if name else 0
    if not written:  # no model-written atom in the history: it continues nothing, no runs to digest
        return (task, previous, conversation, response, digest, answered, 0, 0, 0, 0)  # written out: no splats
    # The digests where its latest RUNS (two) runs end and start, latest first: written out, as a loop over them made
    # a list, slices and iterators on every such line. A run has an end and a start, so there are as many of each.
    ends, starts = model_runs(atoms)
    if not ends:
        return (task, previous, conversation, response, digest, answered, 0, 0, 0, 0)
    end0, start0 = hash(asked[: ends[-1] + 1]) or 1, hash(asked[: starts[-1] + 1]) or 1
    if len(ends) == 1:
        return (task, previous, conversation, response, digest, answered, end0, 0, start0, 0)
    end1, start1 = hash(asked[: ends[-2] + 1]) or 1, hash(asked[: starts[-2] + 1]) or 1
    return (task, previous, conversation, response, digest, answered, end0, end1, start0, start1)


# A scope's own number (hashed once per key, not once per line); cleared past this many keys.
_SCOPES: dict[str | None, int] = {}
MAX_SCOPES = 4096


def _scoped(scope: str | None) -> int:
    if len(_SCOPES) >= MAX_SCOPES:
        _SCOPES.clear()
    found = _SCOPES[scope] = hash(("scope", scope))
    return found


def _chat_answer(answer: dict[str, Any]) -> list[Atom] | tuple[Atom] | None:
    """`answer_atoms("chat", answer)`, a plain text answer or one of tool calls alone (nearly all are) read here
    without its walk over the answer again."""
    choices = answer.get("choices")
    if type(choices) is list and choices:
        first = choices[0]
        message = first.get("message") if type(first) is dict else None
        if type(message) is dict:
            content = message.get("content")
            calls = message.get("tool_calls")
            if type(message.get("function_call")) is not dict:
                if type(content) is str and content and content[:7] != "<think>" and not calls:
                    return ((_MESSAGE, "assistant", "", content),)
                if content is None or content == "":  # tool calls alone (an agent's step): their atoms
                    atoms = _calls(calls)
                    if atoms is not None:
                        return atoms
    return answer_atoms("chat", answer)


def header_name(headers: Any) -> str | None:
    """`x-routetax-task` from logged request headers (any case), if the line kept them."""
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == TASK_HEADER and isinstance(value, str) and value:
            return value
    return None


def litellm_name(row: dict[str, Any], metadata: dict[str, Any]) -> str | None:
    """A LiteLLM row's task: its `session_id` column, else `x-routetax-task` in the metadata it kept of the request."""
    session = row.get("session_id")
    if isinstance(session, str) and session:
        return session
    for key in ("requester_metadata", "spend_logs_metadata"):
        found = header_name(metadata.get(key))
        if found is not None:
            return found
    return None
