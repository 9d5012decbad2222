"""The SSE relay: events cut at blank lines, the hidden usage chunk, text for estimates."""

from __future__ import annotations

import orjson

from router.serving.answers import chat_visible, streamed_chat_answer
from router.sse import EventSplitter, StreamState, filter_events, streamed_text, streamed_tool_calls

TEXT = b'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'
TEXT2 = b'data: {"choices":[{"index":0,"delta":{"content":"lo"}}]}\n\n'
USAGE = b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}\n\n'
DONE = b"data: [DONE]\n\n"


def test_events_split_across_arbitrary_chunk_boundaries() -> None:
    stream = TEXT + TEXT2 + USAGE + DONE
    for cut in range(1, len(stream)):
        splitter = EventSplitter()
        events = splitter.feed(stream[:cut]) + splitter.feed(stream[cut:])
        assert events == [TEXT, TEXT2, USAGE, DONE]


def test_crlf_streams_are_understood() -> None:
    events = EventSplitter().feed(TEXT.replace(b"\n", b"\r\n") + DONE.replace(b"\n", b"\r\n"))
    assert events == [TEXT, DONE]


def test_usage_chunk_is_hidden_unless_asked_and_always_recorded() -> None:
    state = StreamState()
    out = filter_events([TEXT, USAGE, DONE], state, forward_usage=False)
    assert out == TEXT + DONE
    assert state.usage_chunk == {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}
    assert state.saw_done
    assert filter_events([USAGE], StreamState(), forward_usage=True) == USAGE


def test_streamed_text_collects_content_and_tool_arguments() -> None:
    call = b'data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"a\\":1}"}}]}}]}\n\n'
    assert streamed_text([TEXT, TEXT2, call, b"data: garbage\n\n"]) == 'Hello{"a":1}'


def test_events_read_alike_in_every_shape_an_upstream_sends() -> None:
    """One data line (the short path), an `event:` line first, a second data line, no space after the colon:
    the estimate of a cut stream reads the same text from each; what is not a JSON object is skipped."""
    shapes = [
        TEXT,
        b"event: message\n" + TEXT,
        TEXT[:-1] + b'data: {"choices":[{"delta":{"content":"ignored"}}]}\n\n',
        TEXT.replace(b"data: ", b"data:"),
    ]
    assert [streamed_text([event]) for event in shapes] == ["Hel"] * 4
    assert streamed_text([b"data: [1]\n\n", b'data: "x"\n\n', b"data: {broken\n\n", b": comment\n\n"]) == ""


def test_folded_events_give_the_estimate_the_same_text_as_the_events_themselves() -> None:
    from router.sse import COMPACT_EVERY

    shapes = [TEXT, b"event: message\n" + TEXT2, b"data: garbage\n\n", b'data: {"delta":"R"}\n\n', TEXT + b"\n"]
    events = [shapes[i % len(shapes)] for i in range(3 * COMPACT_EVERY + 5)]
    state = StreamState(compact=True)
    for event in events:
        filter_events([event], state, forward_usage=True)
    assert state.folded and state.event_count == len(events)
    assert state.text() == streamed_text(events)


def test_the_common_chat_chunk_and_its_neighbours_read_alike() -> None:
    """The fold's short path (one choice, a delta holding only `content`) and the whole walk read the same text
    and the same answer (first choice's content) from every neighbouring shape an upstream can send."""

    def event(choices: object, **top: object) -> bytes:
        return b"data: " + orjson.dumps({"choices": choices, **top}) + b"\n\n"

    shapes = [
        event([{"index": 0, "delta": {"content": "a"}}]),
        event([{"delta": {"content": "b"}}]),  # no index: the first choice
        event([{"index": 1, "delta": {"content": "c"}}]),  # text for the estimate, not the answer
        event([{"index": 0, "delta": {"content": None}}]),
        event([{"index": 0, "delta": {"content": 5}}]),
        event([{"index": 0, "delta": {"role": "assistant", "content": "d"}}]),
        event([{"index": 0, "delta": {"reasoning_content": "e"}}]),
        event([{"index": 0, "delta": {"content": "f"}}, {"index": 1, "delta": {"content": "g"}}]),
        event([{"index": 0, "delta": {"content": "h"}}], delta="i"),  # a top-level delta string reads first
        event(["j"]),
        event("kl"),
        event([{"index": 0, "delta": "m"}]),
    ]
    answer: list[str] = []
    assert streamed_text(shapes, answer) == "abcdefgih"
    assert "".join(answer) == "abdfh"


def test_chunks_of_shapes_openai_never_sends_are_skipped_not_raised() -> None:
    """A hostile or broken upstream's chunk (`choices` a number, `tool_calls` a number, a tool call without an
    integer index, a name that is not a string) must not end the relay with an exception: the fold, the check for
    a first visible event and the reassembly of the stream's answer skip what they cannot read, keep the rest."""
    hostile = [
        b'data: {"choices": 5}\n\n',
        b'data: {"choices": [{"delta": {"content": "a", "reasoning_content": "r"}}, 7]}\n\n',
        b'data: {"choices": [{"delta": {"content": "x", "tool_calls": 5}}]}\n\n',
        b'data: {"choices": [{"delta": {"tool_calls": [{"index": [1], "function": {"name": "f"}}]}}]}\n\n',
        b'data: {"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": 5}}]}}]}\n\n',
        b'data: {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": "g"}]}}]}\n\n',
        b'data: {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}}]}\n\n',
    ]
    assert streamed_text(hostile) == "arxf{}"  # the estimate's text takes every string it can find
    assert streamed_tool_calls(hostile) == [
        {"id": "c1", "type": "function", "function": {"name": "", "arguments": "{}"}}
    ]
    state = StreamState(compact=True)
    state.events.extend(hostile)
    state.fold()
    assert state.text() == "arxf{}"
    assert chat_visible(hostile[:1]) is None and chat_visible(hostile[:2]) == "text"
    assert orjson.loads(streamed_chat_answer(hostile))["choices"][0]["message"]["content"] == "ax"
