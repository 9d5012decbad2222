"""The upstream pool's own decisions, in process: which failure kind a broken call is, when a stream is idle.

The HTTP itself (bodies and headers on the wire, a slow or cutting upstream) is tested end to end in
tests/test_upstream_http.py against a real server. Here the pool's sessions are stand-ins that answer or
fail as scripted, except for one real connection refused by a socket that never listens.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace

import aiohttp
import pytest

from router import upstream as upstream_module
from router.config import Tier, Timeouts
from router.upstream import FailureKind, UpstreamFailure, UpstreamPool, UpstreamResponse
from tests.in_process import Clock
from tests.waiting import async_wait_until


class Body:
    """An aiohttp response's `content`: scripted chunks, then the end or an error."""

    def __init__(self, chunks: list[bytes], error: BaseException | None) -> None:
        self.chunks, self.error = chunks, error

    async def readany(self) -> bytes:
        if self.chunks:
            return self.chunks.pop(0)
        if self.error is not None:
            raise self.error
        return b""

    def at_eof(self) -> bool:
        return not self.chunks and self.error is None


class Answer:
    """Stands in for an `aiohttp.ClientResponse` whose headers have arrived."""

    def __init__(
        self, status: int = 200, chunks: tuple[bytes, ...] = (b"{}",), error: BaseException | None = None
    ) -> None:
        self.status = status
        self.headers = {"content-type": "application/json"}
        self.content = Body(list(chunks), error)
        self.connection = SimpleNamespace(protocol=SimpleNamespace(read_timeout=120.0))
        self.released = self.closed = False

    async def read(self) -> bytes:
        body = b"".join(self.content.chunks)
        self.content.chunks = []
        if self.content.error is not None:
            raise self.content.error
        return body

    def release(self) -> None:
        self.released = True

    def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> Answer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class Session:
    """Stands in for a tier's `aiohttp.ClientSession`: every call answers `outcome` (or raises it)."""

    def __init__(self, outcome: Answer | BaseException) -> None:
        self.outcome = outcome
        self.calls: list[tuple[str, str, bytes | None]] = []
        self.closed = False

    def _answer(self, method: str, url: str, data: bytes | None = None) -> Answer:
        self.calls.append((method, url, data))
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome

    async def post(self, url: str, data: bytes, headers: dict[str, str] | None = None) -> Answer:
        return self._answer("POST", url, data)

    def request(self, method: str, url: str, headers: dict[str, str] | None = None) -> Answer:
        return self._answer(method, url)

    def get(self, url: str, timeout: aiohttp.ClientTimeout) -> Answer:
        return self._answer("GET", url)

    async def close(self) -> None:
        self.closed = True


TIERS = {"mini": Tier(model="gpt-5.4-mini", base_url="http://upstream.invalid/v1", timeouts=Timeouts(read=30))}


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Session]]:
    """Every session the pool opens is a `Session` answering the outcome the test puts in `sessions[0]`."""
    sessions: list[Session] = []
    monkeypatch.setattr(upstream_module, "_session_for", lambda tier: sessions[0])
    yield sessions


@pytest.fixture
async def pool(scripted: list[Session]) -> AsyncIterator[UpstreamPool]:
    scripted.append(Session(Answer()))
    pool = UpstreamPool(TIERS)
    await pool.start()
    yield pool
    await pool.aclose()


async def test_a_request_is_posted_to_the_tier_and_answered_once_its_headers_arrive(
    pool: UpstreamPool, scripted: list[Session]
) -> None:
    scripted[0].outcome = Answer(status=201, chunks=(b'{"id":', b'"x"}'))
    response = await pool.send("mini", "/chat/completions", b'{"model":"gpt-5.4-mini"}')
    assert (response.status, response.headers["content-type"]) == (201, "application/json")
    assert scripted[0].calls == [("POST", "http://upstream.invalid/v1/chat/completions", b'{"model":"gpt-5.4-mini"}')]
    assert await response.read() == b'{"id":"x"}'


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TimeoutError(), FailureKind.TIMEOUT),
        (aiohttp.ServerTimeoutError("read timed out"), FailureKind.TIMEOUT),
        (aiohttp.ServerDisconnectedError(), FailureKind.PROTOCOL_ERROR),
        (aiohttp.ClientPayloadError("truncated"), FailureKind.PROTOCOL_ERROR),
    ],
)
async def test_each_broken_call_is_one_failure_kind_wherever_it_breaks(
    pool: UpstreamPool, scripted: list[Session], error: BaseException, kind: FailureKind
) -> None:
    """The client's code is `upstream_<kind>`: the same whether the headers or the body never came."""
    scripted[0].outcome = error
    with pytest.raises(UpstreamFailure) as sending:
        await pool.send("mini", "/chat/completions", b"{}")
    with pytest.raises(UpstreamFailure) as asking:
        await pool.request("mini", "GET", "/responses/resp_1")
    assert sending.value.kind is asking.value.kind is kind
    assert sending.value.detail
    for read in ("read", "read_chunk"):
        response = UpstreamResponse(Answer(chunks=(), error=error))  # type: ignore[arg-type]
        with pytest.raises(UpstreamFailure) as reading:
            await getattr(response, read)()
        assert reading.value.kind is kind


async def test_a_refused_connection_is_a_connect_error() -> None:
    """A real session against a port whose socket is bound but never listens: the kernel refuses."""
    with socket.socket() as closed_port:
        closed_port.bind(("127.0.0.1", 0))
        port = closed_port.getsockname()[1]
        pool = UpstreamPool({"mini": Tier(model="gpt-5.4-mini", base_url=f"http://127.0.0.1:{port}/v1")})
        await pool.start()
        try:
            with pytest.raises(UpstreamFailure) as caught:
                await pool.send("mini", "/chat/completions", b"{}")
            assert caught.value.kind is FailureKind.CONNECT_ERROR and str(port) in caught.value.detail
            assert await pool.probe("mini") is False
        finally:
            await pool.aclose()


async def test_stored_objects_are_fetched_and_readiness_asks_for_an_answer_below_500(
    pool: UpstreamPool, scripted: list[Session]
) -> None:
    scripted[0].outcome = Answer(status=404, chunks=(b'{"error":{}}',))
    status, body, headers = await pool.request("mini", "DELETE", "/responses/resp_1")
    assert (status, body, headers["content-type"]) == (404, b'{"error":{}}', "application/json")
    assert scripted[0].calls[-1][:2] == ("DELETE", "http://upstream.invalid/v1/responses/resp_1")
    assert await pool.probe("mini") is True  # a 404 still proves the upstream answers HTTP
    scripted[0].outcome = Answer(status=503)
    assert await pool.probe("mini") is False
    scripted[0].outcome = aiohttp.ServerDisconnectedError()
    assert await pool.probe("mini") is False


async def test_a_body_read_to_its_end_keeps_the_connection_and_a_cut_one_drops_it() -> None:
    whole = Answer(chunks=(b"data: 1\n\n",))
    response = UpstreamResponse(whole)  # type: ignore[arg-type]
    assert await response.read_chunk() == b"data: 1\n\n" and await response.read_chunk() == b""
    response.close()
    assert (whole.released, whole.closed) == (True, False)
    cut = Answer(chunks=(b"data: 1\n\n", b"data: 2\n\n"))
    response = UpstreamResponse(cut)  # type: ignore[arg-type]
    await response.read_chunk()
    response.close()
    assert (cut.released, cut.closed) == (False, True)


async def test_an_idle_stream_is_cut_after_its_tiers_read_timeout_and_reads_as_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock().install(monkeypatch, upstream_module)
    pool = UpstreamPool(TIERS)
    lively, idle = Answer(chunks=(b"a", b"b")), Answer(chunks=(), error=aiohttp.ClientPayloadError("closed"))
    streams = {name: UpstreamResponse(answer) for name, answer in (("lively", lively), ("idle", idle))}  # type: ignore[arg-type]
    for response in streams.values():
        pool.stream("mini", response)
    assert lively.connection.protocol.read_timeout is None  # timed by the pool's sweeper, not per chunk by aiohttp
    assert pool.streams == set(streams.values())
    sweeper = asyncio.create_task(pool._sweep(every_s=0.001))
    try:
        clock.advance(20)
        await streams["lively"].read_chunk()  # data arrived: its idle time starts again
        clock.advance(11)  # 31 s since the idle stream's last byte; the tier's read timeout is 30 s
        await async_wait_until(lambda: idle.closed, "the sweeper to cut the idle stream")
    finally:
        sweeper.cancel()
    assert pool.streams == {streams["lively"]} and not lively.closed
    with pytest.raises(UpstreamFailure) as caught:
        await streams["idle"].read_chunk()
    assert (caught.value.kind, caught.value.detail) == (FailureKind.TIMEOUT, "no data for 30 s")
    streams["lively"].close()
    assert pool.streams == set()


async def test_a_body_that_already_arrived_whole_is_not_timed() -> None:
    pool = UpstreamPool(TIERS)
    answer = Answer()
    answer.connection = None  # type: ignore[assignment]
    pool.stream("mini", UpstreamResponse(answer))  # type: ignore[arg-type]
    assert pool.streams == set()


async def test_closing_the_pool_closes_every_session(pool: UpstreamPool, scripted: list[Session]) -> None:
    await pool.aclose()
    assert scripted[0].closed
    await pool.aclose()  # twice is harmless
