"""What a logged request says about the task it is a step of: the keys `metering.audit.task_groups` joins on.

The proxy decides a request's task at intake (docs/tasks.md): a name the client gave (`x-routetax-task`), the
Responses API's own chain (`previous_response_id`, `conversation`), or an implicit continuation — the request's
history extends an earlier request's history plus the answer it got. A log gives the same evidence, read once
per line while its body is at hand, and kept as a few 64-bit numbers (the body is dropped right after):

- `name`: LiteLLM's `session_id` column, an `x-routetax-task` header where the line logged the request's headers,
  or `x-routetax-task` in the metadata LiteLLM keeps of the request (`requester_metadata`, `spend_logs_metadata`);
- `previous`, `conversation`, `response`: the Responses chain (`response` from the logged answer's `id`);
- `history`: the digest of the request's history as the proxy normalises it (`metering.task_atoms`), and
  `answer`: of that history followed by the logged answer (0 where no answer was logged);
- `ends` / `starts`: the digests of the history up to where its latest runs of model-written atoms end (an
  earlier request's history *plus its answer*) and start (an earlier request's history alone: what a request
  without a logged answer can be matched by), latest first, `RUNS` of each.

Histories are scoped by the client's key where the log names one (LiteLLM's hashed `api_key`), as the proxy
scopes them by key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from metering.task_atoms import DIGEST_BYTES, Atom, chain, chat_atoms, history_atoms, model_runs, responses_atoms

RUNS = 2  # the latest runs kept: the previous step, and the one before it when the previous step is not in the logs
TASK_HEADER = "x-routetax-task"


@dataclass(frozen=True, slots=True)
class TaskKeys:
    """One request's task evidence, as 64-bit numbers (0: none)."""

    name: int = 0
    previous: int = 0
    conversation: int = 0
    response: int = 0
    history: int = 0
    answer: int = 0
    ends: tuple[int, ...] = ()
    starts: tuple[int, ...] = ()


def number(digest: bytes) -> int:
    """A digest as a signed 64-bit number (what an `array('q')` holds); never 0, which means none."""
    value = int.from_bytes(digest[:8], "little", signed=True)
    return value or 1


def named(kind: str, value: Any) -> int:
    """A name (a session, a response id) as a number: the same text gives the same number within one run."""
    if not isinstance(value, str) or not value:
        return 0
    return number(hashlib.blake2b(f"{kind}\x1f{value}".encode("utf-8", "surrogatepass"), digest_size=8).digest())


def _start(scope: str | None) -> bytes:
    return hashlib.blake2b((scope or "-").encode("utf-8", "surrogatepass"), digest_size=DIGEST_BYTES).digest()


def answer_atoms(api: str, answer: Any) -> list[Atom] | None:
    """The logged answer as atoms: a chat answer's first choice's message, a response's `output`; None: no answer."""
    if not isinstance(answer, dict):
        return None
    if api == "responses":
        output = answer.get("output")
        return responses_atoms(output) if isinstance(output, list) else None
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    if not isinstance(message, dict):
        return None
    return chat_atoms([{**message, "role": "assistant"}])


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
        return TaskKeys(named("name", name), previous, conversation, response)
    atoms = history_atoms(body, api)
    replied = answer_atoms(api, answer)
    digests = chain(_start(scope), atoms + (replied or []))
    ends, starts = model_runs(atoms)
    return TaskKeys(
        named("name", name),
        previous,
        conversation,
        response,
        number(digests[len(atoms)]),
        number(digests[-1]) if replied else 0,
        tuple(number(digests[end]) for end in reversed(ends[-RUNS:])),
        tuple(number(digests[start]) for start in reversed(starts[-RUNS:])),
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
