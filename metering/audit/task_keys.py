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
scopes them by key. The digests are Python's own 64-bit hashes, chained atom by atom: they only ever meet other
digests of the same run, and hashing each atom's strings in C costs a fraction of the proxy's blake2b chain
(which must agree across processes and replicas) on every line of a log.
"""

from __future__ import annotations

from typing import Any

from metering.task_atoms import SKIPPED_ROLES, Atom, Kind, chat_atoms, responses_atoms

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
                return [(Kind.MESSAGE, "assistant", "", text)]
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
        return [(Kind.MESSAGE, "assistant", "", content)]
    return chat_atoms([{**message, "role": "assistant"}])


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


def _chat_atoms(messages: Any) -> list[Atom]:
    """`chat_atoms(messages)`, with the shapes most logged messages have — a user's or an assistant's text, a tool's
    text output, a system prompt (no atom) — made here without its general walk; any other message is walked by
    `chat_atoms` alone (it reads each message on its own, so the atoms are the same)."""
    if type(messages) is not list:
        return chat_atoms(messages)
    atoms: list[Atom] = []
    add = atoms.append
    for message in messages:
        if type(message) is dict:
            role = message.get("role")
            content = message.get("content")
            if type(role) is str and type(content) is str and "tool_calls" not in message:
                if role in SKIPPED_ROLES:
                    continue
                if "function_call" not in message:
                    if role == "user" or (role == "assistant" and content and not content.startswith("<think>")):
                        add((Kind.MESSAGE, role, "", content))
                        continue
                    if role == "tool":
                        ref = message.get("tool_call_id")
                        add((Kind.OUTPUT, ref if type(ref) is str else "", "", content))
                        continue
        atoms.extend(chat_atoms([message]))
    return atoms


def keys_of(
    body: dict[str, Any],
    api: str,
    answer: Any = None,
    *,
    name: str | None = None,
    scope: str | None = None,
    history: bool = True,
) -> TaskKeys:
    """The task keys of one logged request. `history=False`: the body is not the request's history (a LiteLLM
    `latest_turn` row keeps only the latest user message), so it joins by name alone."""
    previous = conversation = response = 0
    if api == "responses":
        previous = named("response", body.get("previous_response_id"))
        talk = body.get("conversation")
        conversation = named("conversation", talk.get("id") if isinstance(talk, dict) else talk)
        if isinstance(answer, dict):
            response = named("response", answer.get("id"))
        if not history:
            return (named("name", name), previous, conversation, response, *NONE[HISTORY:])
        atoms = responses_atoms(body.get("input"))
    elif not history:
        return (named("name", name), previous, conversation, response, *NONE[HISTORY:])
    else:
        atoms = _chat_atoms(body.get("messages"))
    # One pass: the digest of the history so far, and where its runs of model-written atoms end and start (the
    # digests there: `metering.task_atoms.model_runs`' positions, read as the chain passes them).
    digest = hash(("scope", scope))
    ends: list[int] = []
    starts: list[int] = []
    model = False
    for atom in atoms:
        kind = atom[0]
        written = kind == "c" or (kind == "m" and atom[1] == "assistant")  # the model wrote it
        if written is not model:
            (starts if written else ends).append(digest or 1)
            model = written
        digest = hash((digest, atom))
    if model:
        ends.append(digest or 1)
    history_digest = digest or 1
    replied = answer_atoms(api, answer)
    if replied:
        for atom in replied:
            digest = hash((digest, atom))
    runs = [0] * (2 * RUNS)
    for k in range(min(RUNS, len(ends))):  # latest first
        runs[k] = ends[-1 - k]
        runs[RUNS + k] = starts[-1 - k]
    return (
        named("name", name),
        previous,
        conversation,
        response,
        history_digest,
        (digest or 1) if replied else 0,
        *runs,
    )


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
