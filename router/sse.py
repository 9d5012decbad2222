"""Relaying an upstream SSE stream event by event, without buffering text.

The router always asks the upstream for the usage chunk (`stream_options.include_usage`)
because metering needs real token counts; when the client did not ask for it, that one
extra chunk is removed here. Everything else is forwarded byte for byte as soon as a
complete event has arrived.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from router.upstream import UpstreamFailure

DONE = b"data: [DONE]\n\n"


MAX_EVENT_BYTES = 16 * 1024 * 1024  # one SSE event larger than this is a broken upstream, not an answer


# Events kept before they are folded into their text (a few bytes per token, not ~230 per event). 16, not 64: the
# events waiting for a fold were ~7 KB of every open stream (32 on average), and a fold's own cost is small beside
# the per-event parse (bench/fold_cpu.py, docs/performance.md).
COMPACT_EVERY = 16


@dataclass(slots=True)
class StreamState:
    """What the relay learned from the events it has passed on.

    The events are kept for one purpose once the stream is relayed: estimating the completion's tokens
    when the upstream sends no usage or the stream is cut. Keeping every event of a minutes-long stream
    cost ~200 bytes per event per open stream (600 KB for 3,000 events); with `compact` set, every
    COMPACT_EVERY events are folded into their text (a few bytes per token) and dropped. The text is
    tokenized only if an estimate is needed: counting it at every fold cost 6 % of the proxy's CPU at
    10,000 events a second (py-spy), for an estimate most streams never need.
    """

    usage_chunk: dict[str, Any] | None = None
    events: list[bytes] = field(default_factory=list)  # kept by reference, parsed only if usage is missing
    saw_done: bool = False
    failed: bool = False  # a Responses stream ended in `response.failed`
    completion_tokens: int | None = None  # an estimate made off the event loop for a long stream without usage
    compact: bool = False  # set once nothing needs the events themselves (tool calls held and checked)
    folded: list[str] = field(default_factory=list)  # the text of the events already folded away
    folded_events: int = 0
    keep_calls: bool = False  # the request declared tools: tool-call events outlive the fold, to be checked at the end
    call_events: list[bytes] = field(default_factory=list)  # folded events that carried tool calls
    answer_text: list[str] | None = None  # a chat answer's content (first choice), one string per fold: task identity

    @property
    def event_count(self) -> int:
        """Events passed on so far, folded or kept."""
        return self.folded_events + len(self.events)

    @property
    def next_sequence(self) -> int:
        """The `sequence_number` the next Responses event would carry (they count events from 0)."""
        return self.event_count

    def fold(self) -> None:
        """Keep the kept events' text and drop the events.

        The answer (task identity's) is kept as one string per fold, and as the fold's text itself when they are
        the same (a chat stream of content deltas only): one string per content delta cost ~50 bytes of object
        header each, 28 KB per open stream at 400 events (bench/fold_cpu.py).
        """
        answer = self.answer_text
        pieces: list[str] | None = None if answer is None else []
        text = streamed_text(self.events, pieces)
        self.folded.append(text)
        if answer is not None and pieces:
            joined = "".join(pieces)
            answer.append(text if joined == text else joined)
        if self.keep_calls:
            self.call_events.extend(event for event in self.events if event.find(b'"tool_calls"') != -1)
        self.folded_events += len(self.events)
        self.events.clear()

    def text(self) -> str:
        """The text and tool-call arguments the client received: the folded text and the events still kept."""
        return "".join(self.folded) + streamed_text(self.events)


class EventTooLarge(UpstreamFailure):
    """An upstream sent more than `MAX_EVENT_BYTES` without ending an event: a broken stream."""


class EventSplitter:
    """Cuts a byte stream into complete SSE events (terminated by a blank line).

    Linear in the bytes fed: an unfinished event is kept as a list of pieces and searched only
    where a terminator can newly appear, so an upstream that never ends an event costs one pass,
    not one per chunk — and stops at `max_event_bytes` instead of growing without bound.
    """

    __slots__ = ("_parts", "_size", "max_event_bytes")

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._parts: list[bytes] = []
        self._size = 0
        self.max_event_bytes = max_event_bytes

    def feed(self, chunk: bytes) -> list[bytes]:
        # `find`, not `in`, on every relayed event: on CPython 3.11 `needle in chunk` first tries the needle as an
        # integer and formats the TypeError that fails (≈ 1,000 instructions a test; bench/relay_instructions.py).
        if chunk.find(b"\r") != -1:
            chunk = chunk.replace(b"\r\n", b"\n")
        if not self._parts and len(chunk) >= 2 and chunk.find(b"\n\n") == len(chunk) - 2:
            return [chunk]  # one whole event, as a slow stream's reads mostly are: no copy, no search loop
        start = 0
        if self._parts:
            last = self._parts[-1]
            if chunk.find(b"\n\n") == -1 and not (last.endswith(b"\n") and chunk.startswith(b"\n")):
                self._hold(chunk)
                return []
            start = max(self._size - 1, 0)  # the held bytes hold no terminator: look only from their end
            data = b"".join(self._parts) + chunk
            self._parts, self._size = [], 0
        else:
            data = chunk
        events = []
        begin = 0
        while (end := data.find(b"\n\n", max(start, begin))) >= 0:
            events.append(data[begin : end + 2])
            begin = end + 2
        if begin < len(data):
            self._hold(data[begin:])
        return events

    def _hold(self, piece: bytes) -> None:
        self._parts.append(piece)
        self._size += len(piece)
        if self._size > self.max_event_bytes:
            self._parts, self._size = [], 0
            raise EventTooLarge("protocol_error", f"an SSE event longer than {self.max_event_bytes} bytes")

    def rest(self) -> bytes:
        """An unterminated trailing event, if the stream ended without a blank line."""
        rest = b"".join(self._parts)
        self._parts, self._size = [], 0
        return rest


_DONE_LINES = (b"data: [DONE]", b"data:[DONE]")


def filter_events(events: list[bytes], state: StreamState, forward_usage: bool) -> bytes:
    """Record what metering needs from `events` and return the bytes to send to the client.

    Runs on every relayed event: an event that is neither `[DONE]`, nor a failed Responses stream, nor carries
    usage (nearly all) costs two prefix checks, two searches and an append; one event in, the same bytes out.
    """
    kept = state.events
    out = []
    for event in events:
        if event.startswith(_DONE_LINES):
            state.saw_done = True
            out.append(event)
            continue
        if event.startswith(b"event: response.failed"):
            state.failed = True
        if event.find(b'"usage":{') != -1 or event.find(b'"usage": {') != -1:  # `find`: see EventSplitter.feed
            chunk = parse_event(event)
            if chunk is not None and _carries_usage(chunk):
                state.usage_chunk = chunk
                if not forward_usage and chunk.get("choices") == []:
                    continue  # the extra chat chunk the client did not ask for
        kept.append(event)
        out.append(event)
    if state.compact and len(kept) >= COMPACT_EVERY:
        state.fold()
    return out[0] if len(out) == 1 else b"".join(out)


def _carries_usage(chunk: dict[str, Any]) -> bool:
    """A chat usage chunk, or a Responses event (`response.completed`, ...) whose response holds usage."""
    if isinstance(chunk.get("usage"), dict):
        return True
    response = chunk.get("response")
    return isinstance(response, dict) and isinstance(response.get("usage"), dict)


def _data_line(event: bytes) -> bytes | None:
    """What follows "data:" on an event's first data line (None if it has none), found without splitting the
    event into lines: every chat chunk is one data line, every Responses event an `event:` line and one."""
    if event.startswith(b"data:"):
        start = 5
    else:
        start = event.find(b"\ndata:") + 6
        if start == 5:
            return None
    end = event.find(b"\n", start)
    return event[start:end] if end >= 0 else event[start:]


def parse_event(event: bytes) -> dict[str, Any] | None:
    """The JSON object of an event's first `data:` line (None if it has none or it is not an object)."""
    data = _data_line(event)
    if data is None:
        return None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def streamed_text(events: list[bytes], content: list[str] | None = None) -> str:
    """The text and tool-call arguments the client received, for estimating tokens of a cut stream.

    Runs on every relayed event (StreamState.fold: 21 % of the proxy's samples at 1,000 streams), so the
    common chat chunk — a data line, one choice whose delta holds only `content` (or only `tool_calls`) —
    takes a short path: parsed inline, no walk over the delta's keys. Anything else is walked whole.
    `content`: also collect the first choice's `content` deltas there (the answer task identity files), from
    the same parse.
    """
    parts: list[str] = []
    add = parts.append
    loads, invalid = orjson.loads, orjson.JSONDecodeError
    for event in events:
        if event.startswith(b"data:"):  # parse_event, inlined: one call less per event
            end = event.find(b"\n", 5)
            data = event[5:end] if end >= 0 else event[5:]
        else:
            data = _data_line(event)
            if data is None:
                continue
        try:
            chunk = loads(data)
        except invalid:
            continue
        if chunk.__class__ is not dict or not chunk:  # orjson makes exact dicts: as isinstance, cheaper
            continue
        delta = chunk.get("delta")
        if delta.__class__ is str:  # Responses API: output_text / function_call_arguments deltas
            add(delta)
        choices = chunk.get("choices")
        if not choices:
            continue
        if choices.__class__ is list and len(choices) == 1:
            choice = choices[0]
            if choice.__class__ is dict:
                delta = choice.get("delta")
                if delta.__class__ is dict and len(delta) == 1:
                    if "content" in delta:
                        value = delta["content"]
                        if value.__class__ is str:
                            add(value)
                            if content is not None and choice.get("index", 0) == 0:
                                content.append(value)
                        continue
                    calls = delta.get("tool_calls")
                    if calls.__class__ is list:  # an agent's tool-call arguments, streamed
                        _add_calls(calls, add)
                        continue
        _walk_choices(choices_of(chunk), add, content)
    return "".join(parts)


def _walk_choices(choices: list[Any], add: Callable[[str], None], content: list[str] | None) -> None:
    """Every choice's text, reasoning, refusal and tool-call name and arguments, in order, into `add`.

    An upstream's chunk is not trusted to have the shapes OpenAI publishes: anything else is skipped, never raised."""
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            continue
        for key in ("content", "reasoning_content", "refusal"):
            value = delta.get(key)
            if isinstance(value, str):
                add(value)
                if content is not None and key == "content" and choice.get("index", 0) == 0:
                    content.append(value)
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            _add_calls(calls, add)


def _add_calls(calls: Any, add: Callable[[str], None]) -> None:
    """Each tool call's function name and arguments, in order, into `add`."""
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            for value in (function.get("name"), function.get("arguments")):
                if isinstance(value, str):
                    add(value)


def estimate_completion_tokens(state: StreamState) -> int:
    """Tokens of what a stream carried (for a stream without usage); heavy for long streams: run it in a thread."""
    from metering.tokens import count_text  # the tokenizer loads on first use, off the request path

    return count_text(state.text())


def error_event(
    message: str, code: str, type_: str = "server_error", api: str = "chat", sequence_number: int = 0
) -> bytes:
    """An in-band error for a stream that already started: the status line is gone.

    Chat streams carry `{"error": {...}}` in a data line (the SDK raises on it); Responses
    streams have their own `error` event type (ResponseErrorEvent: it requires `sequence_number`).
    """
    if api == "responses":
        body = orjson.dumps(
            {"type": "error", "code": code, "message": message, "param": None, "sequence_number": sequence_number}
        )
        return b"event: error\ndata: " + body + b"\n\n"
    body = orjson.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})
    return b"data: " + body + b"\n\n"


def choices_of(chunk: dict[str, Any] | None) -> list[Any]:
    """A chat chunk's `choices` when it is a list (an upstream's chunk is not trusted to be well formed), else []."""
    choices = chunk.get("choices") if chunk else None
    return choices if isinstance(choices, list) else []


def streamed_tool_calls(events: list[bytes]) -> list[dict[str, Any]]:
    """Reassemble the tool calls of a stream from their deltas (by index), as a JSON answer would hold them."""
    calls: dict[int, dict[str, Any]] = {}
    for event in events:
        for choice in choices_of(parse_event(event)):
            delta = choice.get("delta") if isinstance(choice, dict) else None
            parts = delta.get("tool_calls") if isinstance(delta, dict) else None
            for part in parts if isinstance(parts, list) else ():
                index = part.get("index", 0) if isinstance(part, dict) else None
                if not isinstance(index, int):  # not a tool-call delta OpenAI would send: skipped, never raised
                    continue
                call = calls.setdefault(
                    index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
                )
                if isinstance(part.get("id"), str) and part["id"]:
                    call["id"] = part["id"]
                function = part.get("function")
                if isinstance(function, dict):
                    for field in ("name", "arguments"):
                        if isinstance(function.get(field), str):
                            call["function"][field] += function[field]
    return [calls[i] for i in sorted(calls)]
