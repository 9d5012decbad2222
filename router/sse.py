"""Relaying an upstream SSE stream event by event, without buffering text.

The router always asks the upstream for the usage chunk (`stream_options.include_usage`)
because metering needs real token counts; when the client did not ask for it, that one
extra chunk is removed here. Everything else is forwarded byte for byte as soon as a
complete event has arrived.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"


@dataclass(slots=True)
class StreamState:
    """What the relay learned from the events it has passed on."""

    usage_chunk: dict[str, Any] | None = None
    events: list[bytes] = field(default_factory=list)  # kept by reference, parsed only if usage is missing
    saw_done: bool = False
    first_byte_at: float | None = None


class EventSplitter:
    """Cuts a byte stream into complete SSE events (terminated by a blank line)."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
        data = self._buffer + chunk if self._buffer else chunk
        events = []
        start = 0
        while (end := data.find(b"\n\n", start)) >= 0:
            events.append(data[start : end + 2])
            start = end + 2
        self._buffer = data[start:]
        return events

    def rest(self) -> bytes:
        """An unterminated trailing event, if the stream ended without a blank line."""
        rest, self._buffer = self._buffer, b""
        return rest


def filter_events(events: list[bytes], state: StreamState, forward_usage: bool) -> bytes:
    """Record what metering needs from `events` and return the bytes to send to the client."""
    out = []
    for event in events:
        if event.startswith(b"data: [DONE]") or event.startswith(b"data:[DONE]"):
            state.saw_done = True
            out.append(event)
            continue
        if b'"usage":{' in event or b'"usage": {' in event:
            chunk = parse_event(event)
            if chunk is not None and isinstance(chunk.get("usage"), dict):
                state.usage_chunk = chunk
                if not forward_usage and not chunk.get("choices"):
                    continue  # the extra chunk the client did not ask for
        state.events.append(event)
        out.append(event)
    return b"".join(out)


def parse_event(event: bytes) -> dict[str, Any] | None:
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            try:
                value = orjson.loads(line[5:])
            except orjson.JSONDecodeError:
                return None
            return value if isinstance(value, dict) else None
    return None


def streamed_text(events: list[bytes]) -> str:
    """The text and tool-call arguments the client received, for estimating tokens of a cut stream."""
    parts: list[str] = []
    for event in events:
        chunk = parse_event(event)
        if not chunk:
            continue
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                continue
            for key in ("content", "reasoning_content", "refusal"):
                if isinstance(delta.get(key), str):
                    parts.append(delta[key])
            for call in delta.get("tool_calls") or ():
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict):
                    parts.extend(v for v in (function.get("name"), function.get("arguments")) if isinstance(v, str))
    return "".join(parts)


def error_event(message: str, code: str, type_: str = "server_error") -> bytes:
    """An in-band error for a stream that already started: the status line is gone."""
    body = orjson.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})
    return b"data: " + body + b"\n\n"


def streamed_tool_calls(events: list[bytes]) -> list[dict[str, Any]]:
    """Reassemble the tool calls of a stream from their deltas (by index), as a JSON answer would hold them."""
    calls: dict[int, dict[str, Any]] = {}
    for event in events:
        chunk = parse_event(event)
        for choice in (chunk or {}).get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            for part in (delta or {}).get("tool_calls") or ():
                if not isinstance(part, dict):
                    continue
                call = calls.setdefault(
                    part.get("index", 0), {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
                )
                call["id"] = part.get("id") or call["id"]
                function = part.get("function") or {}
                call["function"]["name"] += function.get("name") or ""
                call["function"]["arguments"] += function.get("arguments") or ""
    return [calls[i] for i in sorted(calls)]
