"""A step that resends the previous step's messages byte for byte, found without normalising them again.

Most agent loops keep the messages they sent as they sent them (the openai SDK's loop appends to one list), so
request n+1's messages begin with request n's, serialised the same way. Normalising and hashing that whole
history again, message by message, is most of what identity costs a long loop (~20 µs of Python for 30
messages, more in a busy proxy); serialising it with orjson and hashing the bytes is ~4 µs of C. So the index
also remembers, for each filed answer, a hash of the exact JSON of the messages that asked for it, mapped to the
digest of their normalised history (`router.tasks.index`). Request n+1 splits its messages at its last
assistant message (the answer it got), looks the bytes before it up, and normalises only from there: the answer
as the client sent it back, and what came after it.

A hit is confirmed as every continuation is: the normalised history's digest, chained on through the answer,
must be an answer routetax filed. A history whose earlier messages changed in any way (a framework that
rewrites or trims history, another system prompt, another key order) simply misses and is normalised whole,
as before: this changes what identity costs, never what it finds. The hashes are Python's own (64 bits,
per process) — a collision could only offer a wrong starting digest, which the confirmation then rejects.
Chat histories only: a Responses answer is several items, and its chain is found by id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class RawHistory:
    """Where a chat history splits, and the hashes of its exact bytes before the split and whole."""

    split: int  # index of the last assistant message: the answer this request continues (len(messages): none)
    before: int | None  # hash of the messages before it: what the previous step sent (None: no answer in it)
    whole: int  # hash of every message: the key the next step finds this one's history by


def raw_history(messages: Any) -> RawHistory | None:
    """The split and hashes of a chat `messages` list (None when it is not a list of messages orjson can write)."""
    if type(messages) is not list or not messages:
        return None
    split = len(messages)
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if type(message) is dict and message.get("role") == "assistant":
            split = index
            break
    try:
        whole = orjson.dumps(messages)
        # `[m0,...,mk]`: the bytes of messages[:split] are those of the whole less the tail's, and the hash of
        # b"[" + "m0,...,m(split-1)" is what the previous step's `whole` hashed (its bytes without the "]").
        tail = len(orjson.dumps(messages[split:])) if split < len(messages) else 1
    except orjson.JSONEncodeError:
        return None
    view = memoryview(whole)
    before = hash(view[: len(whole) - tail]) if 0 < split < len(messages) else None
    return RawHistory(split, before, hash(view[:-1]))
