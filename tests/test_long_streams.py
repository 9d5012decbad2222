"""Long streams: bounded memory per open stream, and the idle timeout kept without a timer per event.

A relayed stream folds its events into their text every 64 events (what a cut stream's estimate
needs), so a minutes-long stream holds a few bytes per token instead of every ~200-byte event; an
upstream that stops sending for longer than the tier's read timeout is still cut, by the pool's
once-a-second sweeper.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from metering.tokens import count_text
from router.config import Config
from router.servers import RunningServer
from router.sse import COMPACT_EVERY, StreamState, estimate_completion_tokens, filter_events
from tests.running import Servers


def _event(text: str) -> bytes:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "gpt-5.4-nano"}
    chunk["choices"] = [{"index": 0, "delta": {"content": text}, "finish_reason": None}]
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


WORDS = [f" w{i % 97}" for i in range(1000)]


def test_a_long_stream_keeps_at_most_a_fold_of_events_and_counts_every_token() -> None:
    state = StreamState(compact=True)
    for word in WORDS:
        filter_events([_event(word)], state, forward_usage=False)
        assert len(state.events) < COMPACT_EVERY
    assert estimate_completion_tokens(state) == count_text("".join(WORDS))
    assert sum(map(len, state.folded)) + sum(map(len, state.events)) < 8 * len(WORDS) + 200 * COMPACT_EVERY


def test_a_long_stream_keeps_its_answer_for_the_next_step_in_a_string_per_fold_not_per_token() -> None:
    """A chat stream of a task keeps its answer's text for the task's next step; one string per content delta
    was ~50 bytes of object header per token on every open stream (28 KB at 400 tokens)."""
    from router.apis.chat import ChatApi

    state = StreamState(compact=True, answer_text=[])
    for word in WORDS:
        filter_events([_event(word)], state, forward_usage=False)
    assert len(state.answer_text or ()) <= len(WORDS) // COMPACT_EVERY
    assert all(answer is folded for answer, folded in zip(state.answer_text or (), state.folded, strict=True))
    filed = ChatApi().stream_answer_atoms(state)
    assert filed is not None and filed == ChatApi().stream_answer_atoms(_unfolded(WORDS))


def _unfolded(words: list[str]) -> StreamState:
    state = StreamState(answer_text=[])
    filter_events([_event(word) for word in words], state, forward_usage=False)
    return state


def test_an_open_chat_stream_of_a_task_holds_a_few_kilobytes_of_relay_state_at_any_point() -> None:
    """What a relayed stream holds for a cut stream's estimate and the task's next step, at every event of a
    440-token stream (bench/streams.py's length): events kept until their fold, the folded text, the answer.
    It was 46 KB at the end of this stream, then 19 KB with 64 events kept before a fold."""
    import sys

    def held(state: StreamState) -> int:
        seen: set[int] = set()
        total = 0
        for value in (state.events, *state.events, state.folded, *state.folded, state.answer_text, *state.answer_text):
            if id(value) not in seen:
                seen.add(id(value))
                total += sys.getsizeof(value)
        return total

    state = StreamState(compact=True, answer_text=[])
    most = 0
    for i in range(440):
        filter_events([_event(f" @{63000 + i / 1000:.6f}")], state, forward_usage=False)
        most = max(most, held(state))
    assert most < 12_000


def test_an_open_stream_keeps_its_forwarded_request_at_its_own_size() -> None:
    """The payload sent upstream is kept for the stream's life (a redo on the same tier reuses it): orjson's
    own buffer was 4 KB for this 150-byte body, 4 MB of RSS at 1,000 open streams."""
    import tracemalloc

    from router.apis.chat import ChatApi
    from router.dialects import dialect_for

    tier = _config("http://127.0.0.1:9").tiers["nano"]
    body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": "Write a long story."}]}
    tracemalloc.start()
    try:
        payloads = [ChatApi().payload(body, tier, dialect_for("openai"), stream=True) for _ in range(100)]
        held = tracemalloc.get_traced_memory()[0] / len(payloads)
    finally:
        tracemalloc.stop()
    assert orjson.loads(payloads[0])["model"] == "gpt-5.4-nano"
    assert held < 2 * len(payloads[0]) + 100


def _upstream(stall_s: float, events: int) -> Starlette:
    async def chat(request: Request) -> StreamingResponse:
        async def body():
            yield _event(" first")
            if stall_s:
                await asyncio.sleep(stall_s)  # the upstream's stall is the behaviour under test
            for word in WORDS[:events]:
                yield _event(word)
            yield b"data: [DONE]\n\n"  # no usage chunk: routetax must estimate

        return StreamingResponse(body(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


@pytest.fixture
def upstreams(serve_in_thread: Servers) -> dict[str, RunningServer]:
    return {
        "stalls": serve_in_thread(_upstream(stall_s=4.0, events=3), name="stalling-upstream"),
        "long": serve_in_thread(_upstream(stall_s=0.0, events=len(WORDS)), name="long-upstream"),
    }


def _config(url: str) -> Config:
    tier = {"model": "gpt-5.4-nano", "base_url": f"{url}/v1", "timeouts": {"connect": 1.0, "read": 0.5}}
    tiers = {"nano": tier, "mini": {**tier, "model": "gpt-5.4-mini"}}
    return Config.model_validate({"tiers": tiers, "auth": {"mode": "open"}})


def _stream(proxy: RunningServer) -> tuple[str, str]:
    body = {"model": "nano", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(f"{proxy.url}/v1/chat/completions", json=body, timeout=20)
    return response.headers["x-routetax-request-id"], response.text


def _record(proxy: RunningServer, request_id: str):  # noqa: ANN202
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for record in proxy.app.state.metering.recent:  # type: ignore[attr-defined]
            if record.request_id == request_id:
                return record
        time.sleep(0.02)
    raise AssertionError("no record")


def test_a_stream_silent_past_the_read_timeout_is_cut_and_metered(upstreams, start_proxy) -> None:
    proxy = start_proxy(_config(upstreams["stalls"].url))
    started = time.monotonic()
    request_id, text = _stream(proxy)
    assert time.monotonic() - started < 3.5  # cut within the sweeper's second after the 0.5 s timeout
    assert " first" in text and "upstream_stream_broken" in text and "timeout" in text
    assert text.rstrip().endswith("data: [DONE]")
    record = _record(proxy, request_id)
    assert record.outcome == "failed" and record.attempts[-1].error_type == "stream_timeout"
    assert record.usage is not None and record.usage.estimated and record.usage.completion_tokens >= 1


def test_a_long_stream_without_usage_is_estimated_over_all_its_events(upstreams, start_proxy) -> None:
    proxy = start_proxy(_config(upstreams["long"].url))
    request_id, text = _stream(proxy)
    assert text.count("data: {") == len(WORDS) + 1 and text.rstrip().endswith("data: [DONE]")
    record = _record(proxy, request_id)
    assert record.outcome == "success" and record.usage.estimated
    expected = count_text(" first" + "".join(WORDS))
    assert record.usage.completion_tokens == expected


def _endless_upstream() -> Starlette:
    """An answer that streams a word every 50 ms for ten minutes: longer than any drain."""

    async def chat(request: Request) -> StreamingResponse:
        async def body():
            for i in range(12_000):
                yield _event(WORDS[i % len(WORDS)])
                await asyncio.sleep(0.05)  # the upstream's pace is the behaviour under test
            yield b"data: [DONE]\n\n"

        return StreamingResponse(body(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


def test_a_shutdown_ends_long_streams_with_an_error_event_and_done(serve_in_thread, start_proxy) -> None:
    """A stream still open when the drain runs out gets an error event and [DONE]; its record says the server
    ended it. (`RunningServer.stop` sets what SIGTERM sets in uvicorn; the process-level test is
    test_shutdown.py.)"""
    upstream = serve_in_thread(_endless_upstream(), name="endless-upstream")
    proxy = start_proxy(_config(upstream.url))
    body = {"model": "nano", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    texts: list[str] = []
    ids: list[str] = []
    started = threading.Barrier(4)

    def read_stream() -> None:
        with httpx.stream("POST", f"{proxy.url}/v1/chat/completions", json=body, timeout=30) as response:
            ids.append(response.headers["x-routetax-request-id"])
            parts = []
            for n, chunk in enumerate(response.iter_text()):
                parts.append(chunk)
                if n == 0:
                    started.wait(10)  # every stream is open before the shutdown
            texts.append("".join(parts))

    readers = [threading.Thread(target=read_stream) for _ in range(3)]
    for reader in readers:
        reader.start()
    started.wait(10)
    proxy.stop(timeout=20)
    for reader in readers:
        reader.join(20)
    assert len(texts) == 3
    for text in texts:
        assert '"code":"server_shutdown"' in text, text[-300:]
        assert text.rstrip().endswith("data: [DONE]")
    for request_id in ids:
        record = _record(proxy, request_id)
        assert record.outcome == "failed" and record.attempts[-1].ended_by == "server_shutdown"
        assert record.usage is not None and record.usage.completion_tokens > 0  # what it streamed is metered
