"""A step that resends the previous step's messages byte for byte, found without normalising them again.

Most agent loops keep the messages they sent as they sent them (the openai SDK's loop appends to one list), so
request n+1's messages begin with request n's, serialised the same way. Normalising and hashing that whole
history again, message by message, is most of what identity costs a long loop (~20 µs of Python for 30
messages, more in a busy proxy); serialising it with orjson and hashing the bytes is a few µs of C. So the index
also remembers, for each filed answer, a fingerprint of the exact JSON of the messages that asked for it, mapped
to the digest of their normalised history (`router.tasks.index`). Request n+1 splits its messages at its last
assistant message (the answer it got), looks the bytes before it up, and normalises only from there: the answer
as the client sent it back, and what came after it.

The fingerprint is the bytes' CRC-32 and their length. CRC-32 runs on: the bytes before the split are hashed
once, and the whole history's fingerprint (what the next step will look up) continues from there over the few
messages after it — one pass over the history, where two of Python's own hashes (one for each) read it twice
(~37,000 instructions a request on bench/task_cpu.py's traffic, the largest single item of identity's cost;
CRC-32 over the same bytes once: ~17,000).

A hit is confirmed as every continuation is: the normalised history's digest, chained on through the answer,
must be an answer routetax filed. A history whose earlier messages changed in any way (a framework that
rewrites or trims history, another system prompt, another key order) misses and is normalised whole, as
before; and a fingerprint that two histories share (a 1 in 4 billion chance per pair of equal length) can only
offer a wrong starting digest, which that confirmation rejects (it too is then normalised whole): this changes
what identity costs, never what it finds. Chat histories only: a Responses answer is several items, and its
chain is found by id.
"""

from __future__ import annotations

import zlib
from typing import Any, NamedTuple

import orjson


class RawHistory(NamedTuple):
    """Where a chat history splits, and the fingerprints of its exact bytes before the split and whole.

    A tuple, made once per request and dropped with it (a frozen dataclass costs a `__setattr__` per field)."""

    split: int  # index of the last assistant message: the answer this request continues (len(messages): none)
    before: int | None  # fingerprint of the messages before it: what the previous step sent (None: no answer)
    whole: int  # fingerprint of every message: the key the next step finds this one's history by


def fingerprint(crc: int, length: int) -> int:
    """CRC-32 and byte length in one int (the length tells most unequal histories apart before the CRC does)."""
    return crc | length << 32


def raw_history(messages: Any) -> RawHistory | None:
    """The split and fingerprints of a chat `messages` list (None when it is not a list orjson can write)."""
    if type(messages) is not list or not messages:
        return None
    count = len(messages)
    split = count
    for index in range(count - 1, -1, -1):
        message = messages[index]
        if type(message) is dict and message.get("role") == "assistant":
            split = index
            break
    try:
        whole = orjson.dumps(messages)
        # `[m0,...,mk]`: the bytes of messages[:split] are those of the whole less the tail's, and b"[" +
        # "m0,...,m(split-1)" is what the previous step's `whole` fingerprinted (its bytes without the "]").
        tail = len(orjson.dumps(messages[split:])) if split < count else 1
    except orjson.JSONEncodeError:
        return None
    view = memoryview(whole)
    cut = len(whole) - tail
    crc = zlib.crc32(view[:cut])
    before = fingerprint(crc, cut) if 0 < split < count else None
    return RawHistory(split, before, fingerprint(zlib.crc32(view[cut:-1], crc), len(whole) - 1))
