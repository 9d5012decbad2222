"""Clients that hold thousands of SSE streams open at once and time every event.

One bare asyncio protocol per stream (uvloop), so that 10,000 of them fit in the harness process
beside everything else on its core: it sends one `POST /v1/chat/completions` with `"stream": true`,
then finds, in whatever the network delivers, each event's `@<send time>` (stamped by
`bench/stream_upstream.py` with CLOCK_MONOTONIC, shared by every process on the machine) and keeps
the event's delay from the upstream's send time. Time to first token is from the moment the
request was written to the first stamped event.

A slow reader reads at `read_bytes_per_s` and shrinks its socket's receive buffer, as a client on a
slow link does: whatever it has not read must wait somewhere upstream of it, and where (the kernel,
the proxy's buffers, the upstream) is what the slow-reader run shows.
"""

from __future__ import annotations

import asyncio
import socket
import time
from array import array
from dataclasses import dataclass, field

MARK = b'"content":" @'
DONE = b"data: [DONE]"


@dataclass
class Tally:
    """What a wave of streams saw, pooled over its streams."""

    delays: array = field(default_factory=lambda: array("d"))  # seconds from the upstream's send time
    ttfts: array = field(default_factory=lambda: array("d"))
    events: int = 0
    open: int = 0  # connected and not finished
    completed: int = 0  # 200, every event, then [DONE]
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class StreamClient(asyncio.Protocol):
    def __init__(self, request: bytes, tally: Tally, read_bytes_per_s: float | None, done: asyncio.Future) -> None:
        self.request = request
        self.tally = tally
        self.rate = read_bytes_per_s
        self.done = done
        self.head = b""
        self.status: int | None = None
        self.tail = b""
        self.events = 0
        self.saw_done = False
        self.sent_at = 0.0
        self.finished = False
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.tally.open += 1
        self.sent_at = time.monotonic()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if self.status is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            self.status = int(self.head[9:12])
            data, self.head = self.head[end + 4 :], b""
            if self.status != 200:
                self._finish(f"http_{self.status}")
                return
        buf = self.tail + data if self.tail else data
        pos, cut = 0, -1
        tally = self.tally
        while (at := buf.find(MARK, pos)) >= 0:
            start = end = at + len(MARK)
            while end < len(buf) and (48 <= buf[end] <= 57 or buf[end] == 46):  # digits and the point
                end += 1
            if end == len(buf):  # the stamp is cut by the read: finish it with the next one
                cut = at
                break
            if self.events == 0:
                tally.ttfts.append(now - self.sent_at)
            tally.delays.append(now - float(buf[start:end]))
            self.events += 1
            pos = end
        self.tail = buf[cut:] if cut >= 0 else buf[-(len(MARK) - 1) :]
        if not self.saw_done and DONE in buf:
            self.saw_done = True
        if self.saw_done and (buf.endswith(b"0\r\n\r\n") or b"\r\n0\r\n\r\n" in buf):
            self._finish(None)
            return
        if self.rate:
            self.transport.pause_reading()
            self.loop.call_later(len(data) / self.rate, self._resume)

    def _resume(self) -> None:
        if not self.finished:
            self.transport.resume_reading()

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished:
            self._finish(None if self.saw_done else ("reset" if exc else "closed_before_done"))

    def _finish(self, error: str | None) -> None:
        if self.finished:
            return
        self.finished = True
        self.tally.open -= 1
        self.tally.events += self.events
        if error is None and self.saw_done and self.events:
            self.tally.completed += 1
        else:
            self.tally.error(error or "no_events")
        self.transport.close()
        if not self.done.done():
            self.done.set_result(None)


def request_bytes(port: int, body: bytes) -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:%d\r\ncontent-type: application/json\r\n"
        b"authorization: Bearer bench\r\ncontent-length: %d\r\n\r\n%s" % (port, len(body), body)
    )


async def open_stream(
    port: int, request: bytes, tally: Tally, read_bytes_per_s: float | None, timeout_s: float
) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future = loop.create_future()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    if read_bytes_per_s:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), 10)
        transport, _ = await loop.create_connection(
            lambda: StreamClient(request, tally, read_bytes_per_s, done), sock=sock
        )
    except (OSError, TimeoutError) as exc:
        sock.close()
        tally.error(f"connect_{type(exc).__name__}")
        return
    try:
        await asyncio.wait_for(asyncio.shield(done), timeout_s)
    except TimeoutError:
        tally.error("timeout")
        tally.open -= 1
        transport.close()


async def wave(
    port: int,
    body: bytes,
    streams: int,
    ramp_per_s: float,
    timeout_s: float,
    tally: Tally,
    read_bytes_per_s: float | None = None,
) -> None:
    """Open `streams` streams at `ramp_per_s` and wait for every one to end (or time out)."""
    request = request_bytes(port, body)
    tasks = []
    started = time.monotonic()
    for index in range(streams):
        delay = started + index / ramp_per_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(open_stream(port, request, tally, read_bytes_per_s, timeout_s)))
    await asyncio.gather(*tasks)
