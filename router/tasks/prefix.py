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
from typing import Any

import orjson

# Where a chat history splits, and the fingerprints of its exact bytes before the split and whole: a plain tuple
# (split, before, whole), made once per request and dropped with it (a NamedTuple's `__new__` is a Python call):
#   split   index of the last assistant message: the answer this request continues (len(messages): none)
#   before  fingerprint of the messages before it: what the previous step sent (None: no answer)
#   whole   fingerprint of every message: the key the next step finds this one's history by
# A fingerprint is CRC-32 | byte length << 32 in one int (the length tells most unequal histories apart first).
RawHistory = tuple[int, int | None, int]


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
    crc32, dumps = zlib.crc32, orjson.dumps
    try:
        if not 0 < split < count:
            whole = dumps(messages)
            return split, None, crc32(memoryview(whole)[:-1]) | (len(whole) - 1) << 32
        # `[m0,...,m(split-1)]` and `[m(split),...]`, each written once: `[m0,...,m(split-1)` is what the previous
        # step's `whole` fingerprinted (its bytes without the "]"), and this history's own bytes continue it with
        # "," and the tail's messages (orjson writes a list as its items joined by ",", whatever they are).
        head, tail = dumps(messages[:split]), dumps(messages[split:])
    except orjson.JSONEncodeError:
        return None
    before = crc32(memoryview(head)[:-1])
    whole = crc32(memoryview(tail)[1:-1], crc32(b",", before))
    return split, before | (len(head) - 1) << 32, whole | (len(head) + len(tail) - 2) << 32
