"""RelayResponse: streams as produced, stops the producer when the client leaves, lets other cancellations through.

Here the ASGI server is a stand-in with no `routetax.transport` extension, so the body goes through `send`
(`AsgiSink`): the path every ASGI server other than `routetax serve`'s takes.
"""

from __future__ import annotations

import asyncio

import pytest

from router.stream_response import RelayResponse, Sink
from tests.waiting import async_wait_until


class Client:
    """An ASGI server's two callables: what was sent, and a disconnect that can be triggered."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.gone = asyncio.Event()

    async def receive(self) -> dict:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


def events(count: int, gap_s: float, closed: list[str]):
    async def produce(sink: Sink) -> None:
        try:
            for i in range(count):
                sink.write(f"data: {i}\n\n".encode())
                if sink.paused:
                    await sink.drain()
                await asyncio.sleep(gap_s)  # the upstream's pace between events (the behaviour)
        finally:
            closed.append("upstream closed")  # the relay's cleanup: close the upstream, meter what was consumed

    return produce


async def test_streams_every_event_then_ends_the_body() -> None:
    client, closed = Client(), []
    await RelayResponse(events(3, 0, closed), media_type="text/event-stream")(
        {"type": "http"}, client.receive, client.send
    )
    assert client.sent[0]["type"] == "http.response.start" and client.sent[0]["status"] == 200
    assert client.body() == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert client.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert closed == ["upstream closed"]


async def test_client_leaving_stops_the_producer_and_the_response_returns() -> None:
    client, closed = Client(), []
    response = RelayResponse(events(1000, 0.01, closed), media_type="text/event-stream")
    serving = asyncio.create_task(response({"type": "http"}, client.receive, client.send))
    await async_wait_until(lambda: b"data:" in client.body(), "the first event relayed")
    client.gone.set()
    await asyncio.wait_for(serving, 2)  # returns normally: the cancellation was ours and is absorbed
    assert closed == ["upstream closed"]
    assert 0 < client.body().count(b"data:") < 100
    assert not any(m.get("more_body") is False for m in client.sent)  # never claimed a complete body


async def test_a_cancellation_from_outside_still_cancels() -> None:
    client, closed = Client(), []
    response = RelayResponse(events(1000, 0.01, closed), media_type="text/event-stream")
    serving = asyncio.create_task(response({"type": "http"}, client.receive, client.send))
    await async_wait_until(lambda: b"data:" in client.body(), "the first event relayed")
    serving.cancel()  # e.g. the server shutting down
    with pytest.raises(asyncio.CancelledError):
        await serving
    assert closed == ["upstream closed"]
