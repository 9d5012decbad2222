"""An upstream that holds many SSE streams open at once, each on a configurable event profile.

Every request that asks for `"stream": true` gets a chat-completion stream (chunked transfer
encoding, as OpenAI sends it): a first event carrying the role and a token, then one token-sized
event every `--interval-ms LO-HI` milliseconds (drawn per event) until the stream has lasted
`--duration-s LO-HI` seconds (drawn per stream), then the finish chunk, the usage chunk and
`[DONE]`. Each event's text starts with `@<time>`: the upstream's CLOCK_MONOTONIC time when it was written,
which every process on the machine shares, so a client can measure each event's delay from the
upstream's send time — directly or through any proxy that relays the text.
A request without `"stream": true` gets one small JSON completion (proxies' readiness checks), and a
stream asked with `"max_tokens": 1` ends after its first event (warming a proxy's streaming path).

Backpressure is respected: while the connection's write buffer is over its high-water mark
(a proxy or a client that stopped reading), the stream stops producing, as a server that
generates only what it can send would. `--event-bytes` pads each event's token (slow-reader runs
use larger events to fill the buffers sooner).

Deliberately a bare asyncio protocol on uvloop: at 10,000 streams the upstream must not be what
is measured. Run: python bench/stream_upstream.py PORT [--interval-ms 20-50] [--duration-s 10-60]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import time

import orjson
import uvloop

HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
PREFIX = b'data: {"id":"chatcmpl-streams","object":"chat.completion.chunk","created":0,"model":"gpt-5.4-nano",'
USAGE_TAIL = (
    b'"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":%d,"total_tokens":%d,'
    b'"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}\n\n'
)
END = b"0\r\n\r\n"
SHORT = re.compile(rb'"max_(?:completion_)?tokens": ?1[,}]')  # LiteLLM renames it for gpt-5 models
JSON_ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-streams",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-5.4-nano",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
    }
)


def frame(event: bytes) -> bytes:
    """One SSE event as one HTTP chunk."""
    return b"%x\r\n%s\r\n" % (len(event), event)


def token_event(padding: bytes, first: bool) -> bytes:
    """A token event whose text starts with `@<send time>`: proxies that rebuild chunks (LiteLLM drops unknown
    fields) still relay the text, so the send time survives any relay."""
    role = b'"role":"assistant",' if first else b""
    return PREFIX + b'"choices":[{"index":0,"delta":{%s"content":" @%.6f%s"},"finish_reason":null}]}\n\n' % (
        role,
        time.monotonic(),
        padding,
    )


class Profile:
    def __init__(self, interval_ms: tuple[float, float], duration_s: tuple[float, float], event_bytes: int) -> None:
        self.interval_s = (interval_ms[0] / 1000, interval_ms[1] / 1000)
        self.duration_s = duration_s
        self.padding = b"x" * max(0, event_bytes - 18)  # the time stamp is the first 18 bytes of text


class StreamProtocol(asyncio.Protocol):
    profile: Profile

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""
        self.paused = False
        self.pending: asyncio.TimerHandle | None = None
        self.loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = self.buffer[:head_end].lower()
        marker = head.find(b"content-length:")
        length = int(head[marker + 15 :].split(b"\r\n", 1)[0]) if marker >= 0 else 0
        if len(self.buffer) < head_end + 4 + length:
            return
        request_body, self.buffer = self.buffer[head_end + 4 : head_end + 4 + length], b""
        if not head.startswith(b"post") or (
            b'"stream":true' not in request_body and b'"stream": true' not in request_body
        ):
            body = JSON_ANSWER if head.startswith(b"post") else b'{"object":"list","data":[]}'
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
            )
            return
        self.sent = 0
        short = SHORT.search(request_body) is not None  # warm-up streams
        self.ends_at = self.loop.time() + (0 if short else random.uniform(*self.profile.duration_s))
        self.transport.write(HEAD + frame(token_event(self.profile.padding, first=True)))
        self.sent = 1
        self._schedule()

    def _schedule(self) -> None:
        self.pending = self.loop.call_later(random.uniform(*self.profile.interval_s), self._tick)

    def _tick(self) -> None:
        self.pending = None
        if self.transport.is_closing():
            return
        if self.paused:
            return  # resume_writing() restarts the clock
        if self.loop.time() >= self.ends_at:
            finish = PREFIX + b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
            usage = PREFIX + USAGE_TAIL % (self.sent, self.sent + 12)
            self.transport.write(frame(finish) + frame(usage) + frame(b"data: [DONE]\n\n") + END)
            return
        self.transport.write(frame(token_event(self.profile.padding, first=False)))
        self.sent += 1
        self._schedule()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.pending is None and not self.transport.is_closing() and getattr(self, "ends_at", None) is not None:
            self._schedule()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pending is not None:
            self.pending.cancel()


def span(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    return float(low), float(high or low)


async def serve(port: int, profile: Profile) -> None:
    StreamProtocol.profile = profile
    server = await asyncio.get_running_loop().create_server(StreamProtocol, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("port", type=int)
    ap.add_argument("--interval-ms", default="20-50", help="gap between events, drawn per event (default 20-50)")
    ap.add_argument("--duration-s", default="10-60", help="stream length, drawn per stream (default 10-60)")
    ap.add_argument("--event-bytes", type=int, default=4, help="size of each event's token text (default 4)")
    args = ap.parse_args()
    profile = Profile(span(args.interval_ms), span(args.duration_s), args.event_bytes)
    uvloop.run(serve(args.port, profile))


if __name__ == "__main__":
    main()
