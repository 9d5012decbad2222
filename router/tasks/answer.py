"""The answer routetax returned, as task identity needs it: its atoms, its marks, and its tool calls' digest.

Read from a JSON answer (chat's `choices[0].message`, a response's `output`) or, for a stream, from what
the relay kept: a chat stream's content and tool-call deltas, a Responses stream's `response.completed`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from metering.task_atoms import KIND, Atom, Kind, chat_atoms, message_text, responses_atoms

MARK_CHARS = 64  # an answer without tool calls is recognised in a rewritten history by its first characters
# An answer's marks are kept as one string, joined by this: a tuple of them was one more object per filed answer for
# the collector to count towards its next young collection (a proxy's pause; bench/tasks.py).
MARK_SEPARATOR = "\x1e"


def split_marks(marks: str) -> list[str]:
    return marks.split(MARK_SEPARATOR) if marks else []


@dataclass(slots=True)  # not frozen: one per answer, and frozen's __init__ is ~0.4 µs slower
class AnswerAtoms:
    atoms: list[Atom]
    marks: str  # what a client that rewrites the answer still echoes (its call ids, else its text), joined
    calls: str | None  # digest of the tool calls asked for (names and parsed arguments); None: none asked
    response_id: str | None = None  # a Responses answer's id (for `previous_response_id`)
    text: str = ""  # its messages' text, joined (`message_text`): where an action written in text is looked for


_CALL, _MESSAGE = Kind.CALL, Kind.MESSAGE


def of_atoms(atoms: list[Atom], response_id: str | None = None) -> AnswerAtoms:
    # Once per answer: the common shapes — one message, one tool call — take the short path (the same values).
    if len(atoms) == 1:
        kind, ref, name, text = atoms[0]
        if kind == _CALL:
            marks = ref if len(ref) >= 6 else ""  # a short id occurs by chance
            return AnswerAtoms(atoms, marks, _calls_digest(f"{name}\x1f{text}"), response_id)
        text = text if kind == _MESSAGE else ""
    else:
        calls = [atom for atom in atoms if atom[KIND] == _CALL]
        text = message_text(atoms)
        if calls:
            marks = MARK_SEPARATOR.join(ref for _, ref, _, _ in calls if len(ref) >= 6)
            digest = _calls_digest("\x1e".join(f"{name}\x1f{text}" for _, _, name, text in calls))
            return AnswerAtoms(atoms, marks, digest, response_id, text)
    stripped = text.strip()
    marks = stripped[:MARK_CHARS] if len(stripped) >= 16 else ""  # a separator in it splits it into pieces it holds
    return AnswerAtoms(atoms, marks, None, response_id, text)


def _calls_digest(calls: str) -> str:
    return hashlib.blake2b(calls.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def from_chat_json(content: bytes) -> AnswerAtoms | None:
    try:
        return from_chat_answer(orjson.loads(content))
    except orjson.JSONDecodeError:
        return None


def from_chat_answer(data: Any) -> AnswerAtoms | None:
    """A chat answer already parsed (the degraded check's parse, reused: one parse of the answer, not two)."""
    try:
        message = data["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        return None
    if not isinstance(message, dict):
        return None
    if message.get("role") != "assistant":  # read as the assistant's whatever it says; copied only then
        message = {**message, "role": "assistant"}
    return of_atoms(chat_atoms([message]))


def from_response(response: Any) -> AnswerAtoms | None:
    """A Responses API response object (a JSON answer, or the `response` of a stream's final event)."""
    if not isinstance(response, dict) or response.get("status") not in ("completed", "incomplete", None):
        return None
    response_id = response.get("id")
    return of_atoms(
        responses_atoms(response.get("output") or []), response_id if isinstance(response_id, str) else None
    )


def from_responses_json(content: bytes) -> AnswerAtoms | None:
    try:
        return from_response(orjson.loads(content))
    except orjson.JSONDecodeError:
        return None


def from_chat_stream(content: str, calls: list[dict[str, Any]]) -> AnswerAtoms:
    """A chat stream's answer: the content deltas of its first choice, and its reassembled tool calls."""
    return of_atoms(chat_atoms([{"role": "assistant", "content": content, "tool_calls": calls}]))
