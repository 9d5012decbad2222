"""The client's request headers that travel upstream: trace context, idempotency, the client's request id.

routetax builds each upstream request itself, so a client header reaches the upstream only when it is
named here. Four are: `traceparent` and `tracestate` (W3C Trace Context: the upstream's spans join the
client's trace), `Idempotency-Key` (a retry of the same operation is recognised as one) and
`x-client-request-id` (the client's own id for the request, which OpenAI logs and support can look up).
Everything else stays: `Authorization` is the client's routetax key, and `OpenAI-Organization` /
`OpenAI-Project` would choose the organisation or project of the upstream account — routetax's account,
which its own key decides — so a client can never bill another one.

A value that is malformed is dropped, never refused: a tracing header must not fail a request. An
`Idempotency-Key` travels as sent to the tier the request was planned for (its retries there repeat the
same operation); a fallback or redo on another tier is another operation — another model, perhaps the
same account — so it gets the key suffixed with that tier's name, and a provider that honours idempotency
cannot answer it with the first tier's (failed or degraded) answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum


class Forwarded(StrEnum):
    """The request headers passed upstream, by their lower-case names."""

    TRACEPARENT = "traceparent"
    TRACESTATE = "tracestate"
    IDEMPOTENCY_KEY = "idempotency-key"
    CLIENT_REQUEST_ID = "x-client-request-id"


# W3C Trace Context: version-traceid-parentid-flags, lower-case hex; a later version may append fields.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
TRACESTATE_MAX = 512  # the length the W3C recommends every system pass on
IDEMPOTENCY_KEY_MAX = 255
CLIENT_REQUEST_ID_MAX = 512  # OpenAI's limit for x-client-request-id


def _printable(value: str, longest: int) -> bool:
    return 0 < len(value) <= longest and all(" " <= c <= "~" for c in value)


def valid_traceparent(value: str) -> bool:
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return False
    version, trace_id, parent_id, _flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return False
    return trace_id != "0" * 32 and parent_id != "0" * 16


_WANTED = frozenset(name.value.encode() for name in Forwarded)


def _sent(headers: Mapping[str, str]) -> dict[str, list[str]]:
    """The values the client sent of each forwarded header: one pass over the raw ASGI headers (lower-case
    names), since most requests carry none of them and this runs on every request."""
    raw = getattr(headers, "raw", None)
    if raw is None:  # a plain mapping
        return {name: [value] for name in Forwarded if (value := headers.get(name)) is not None}
    sent: dict[str, list[str]] = {}
    for name, value in raw:
        if name in _WANTED:
            sent.setdefault(name.decode(), []).append(value.decode("latin-1"))
    return sent


def forwarded(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers of a client request (lower-case names) that travel upstream, checked; usually none."""
    sent = _sent(headers)
    if not sent:
        return {}
    out: dict[str, str] = {}
    traceparent = (sent.get(Forwarded.TRACEPARENT) or [""])[0].strip()
    if traceparent and valid_traceparent(traceparent):
        out[Forwarded.TRACEPARENT] = traceparent
        # Meaningless without the traceparent it belongs to; several tracestate headers are one comma-joined list.
        tracestate = ",".join(v.strip() for v in sent.get(Forwarded.TRACESTATE, ()) if v.strip())
        if _printable(tracestate, TRACESTATE_MAX):
            out[Forwarded.TRACESTATE] = tracestate
    key = (sent.get(Forwarded.IDEMPOTENCY_KEY) or [""])[0].strip()
    if _printable(key, IDEMPOTENCY_KEY_MAX):
        out[Forwarded.IDEMPOTENCY_KEY] = key
    client_id = (sent.get(Forwarded.CLIENT_REQUEST_ID) or [""])[0].strip()
    if _printable(client_id, CLIENT_REQUEST_ID_MAX):
        out[Forwarded.CLIENT_REQUEST_ID] = client_id
    return out


def for_tier(headers: dict[str, str], tier: str, planned_tier: str) -> dict[str, str]:
    """`headers` as sent to `tier`: another tier than the planned one gets its own idempotency key."""
    key = headers.get(Forwarded.IDEMPOTENCY_KEY)
    if key is None or tier == planned_tier:
        return headers
    return {**headers, Forwarded.IDEMPOTENCY_KEY: f"{key}-{tier}"}
