"""Keeping the upstream credentials out of everything relayed to a client.

An upstream may echo the key routetax sent it: in an error message ("Incorrect API key provided: sk-…"),
in a header, in a 2xx body, in an error event inside a 200 stream — and JSON lets it write the key with
escapes (`\\u0073\\u006b-…`), which a byte match misses but every client decodes back to the key. So:

- **errors** (`Scrubber.__call__`): the configured keys and anything key-shaped (`sk-…`, `rt-…`,
  `Bearer …`) become `[redacted]`, after JSON escapes are decoded (only when the body has a `\\u`);
- **answers and stream events** (`Scrubber.answer`): the configured keys only, written plainly or with
  escapes — model output may legitimately hold key-shaped text, never routetax's own key;
- **headers** (`Scrubber.header`): as errors.

The hot path pays one substring search per configured key per body or chunk, plus one for `\\u`: the
escape-aware pattern runs only on bodies that hold an escape, and a clean body is returned as the very
same bytes (the upstream's own).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import orjson

# Key-shaped text: OpenAI-style keys (also masked ones, `sk-secre****-XYZ`), routetax keys, bearer credentials.
_KEY_SHAPED = (
    rb"(?<![A-Za-z0-9_\-])sk-[A-Za-z0-9_*.\-]{4,}",  # not inside a word: "risk-free" stays
    rb"(?<![A-Za-z0-9_\-])rt-[A-Za-z0-9_\-]{16,}",
    rb"(?i:\bbearer)\s+[^\s\"\\,;)'\]]+",
)
REDACTED = b"[redacted]"
_ESCAPE = b"\\u"


def _escapable(secret: str) -> bytes:
    """A pattern for `secret` with any of its characters written plainly or as a JSON `\\uXXXX` escape."""
    parts = []
    for char in secret:
        code = f"{ord(char):04x}"
        hex_digits = "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in code)
        alternatives = [re.escape(char), "\\\\u" + hex_digits]
        if char == "/":
            alternatives.append(r"\\/")
        parts.append("(?:" + "|".join(alternatives) + ")")
    return "".join(parts).encode()


class Scrubber:
    """Removes the upstream credentials (and, from errors and headers, anything key-shaped) from relayed bytes.

    Works on the bytes, inside JSON strings, so a dirty body stays valid JSON and a clean one is untouched.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        ordered = sorted({secret for secret in secrets if secret}, key=len, reverse=True)
        self._secrets = [secret.encode() for secret in ordered]
        exact = [re.escape(secret) for secret in self._secrets]
        self._pattern = re.compile(b"|".join([*exact, *_KEY_SHAPED]))
        self._exact = re.compile(b"|".join(exact)) if exact else None
        self._escaped = re.compile(b"|".join(_escapable(secret) for secret in ordered)) if ordered else None

    def __call__(self, body: bytes) -> bytes:
        """An error body: credentials and key-shaped text redacted, escapes decoded first when it has any."""
        if _ESCAPE in body:
            body = _unescaped(body)
            if self._escaped is not None and _ESCAPE in body:  # not JSON: the escapes are still there
                body = self._escaped.sub(REDACTED, body)
        return self._pattern.sub(REDACTED, body)

    def answer(self, data: bytes) -> bytes:
        """A 2xx body or a run of complete SSE events: the configured credentials redacted, however written."""
        if self._exact is None:
            return data
        # `find`, not `in`: on CPython 3.11 `needle in data` first tries the needle as an integer and formats the
        # TypeError that fails (≈ 1,000 instructions a test, on every relayed event).
        find = data.find
        for secret in self._secrets:
            if find(secret) != -1:
                data = self._exact.sub(REDACTED, data)
                find = data.find
                break
        if self._escaped is not None and find(_ESCAPE) != -1:
            data = self._escaped.sub(REDACTED, data)
        return data

    def line(self, data: bytes) -> bytes:
        """A log line, scrubbed as an error body is — but first a few substring checks (a clean line, nearly every
        one, skips the patterns: on an access line they cost more than everything else the log does with it)."""
        lowered = data.lower()
        if (
            b"sk-" in lowered
            or b"rt-" in lowered
            or b"bearer" in lowered
            or _ESCAPE in data
            or any(secret in data for secret in self._secrets)
        ):
            return self(data)
        return data

    def header(self, value: str) -> str:
        """A relayed header's value, scrubbed as an error body is."""
        raw = value.encode("latin-1", "replace")
        clean = self._pattern.sub(REDACTED, raw)
        return value if clean == raw else clean.decode("latin-1")


def _unescaped(body: bytes) -> bytes:
    """The same JSON with its `\\uXXXX` escapes written as characters (orjson re-encodes only what it must);
    a body that is not JSON is returned as it is, and the escape-aware credential pattern still applies."""
    try:
        return orjson.dumps(orjson.loads(body))
    except (orjson.JSONDecodeError, TypeError):
        return body
