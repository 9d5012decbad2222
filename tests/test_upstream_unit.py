"""The upstream pool's own HTTP/1.1 (router/upstream.py, router/upstream_wire.py) against a scripted upstream.

The upstream here is a socket server in the test's own loop that reads each request whole and answers with the
exact bytes the test scripts (content-length, chunked, close-delimited, gzip, a cut, silence, `Connection:
close`, a cookie), so what the client does with each shape of answer, and with its connections, is checked on
the wire. What travels through a whole proxy (bodies, keys, dialect errors) is in tests/test_upstream_http.py.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from router import upstream_wire
from router.config import Tier, Timeouts
from router.upstream import FailureKind, UpstreamFailure, UpstreamPool

Answer = Callable[[asyncio.StreamWriter], Coroutine[Any, Any, None]]


def http(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{head}content-length: {len(body)}\r\n\r\n".encode()
        + body
    )


STREAM_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def chunked(*pieces: bytes) -> bytes:
    framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        + framed
        + b"0\r\n\r\n"
    )


def sends(*parts: bytes | float | None) -> Answer:
    """An answer: bytes written in order, a float slept, None the connection closed."""

    async def answer(writer: asyncio.StreamWriter) -> None:
        for part in parts:
            if part is None:
                writer.close()
                return
            if isinstance(part, float):
                await asyncio.sleep(part)
            else:
                writer.write(part)
                await writer.drain()

    return answer


@dataclass
class Upstream:
    """Answers the n-th request with `answers[n]` (the last one again after that); keeps every request and the
    client port it came from."""

    answers: list[Answer] = field(default_factory=lambda: [sends(http(b'{"id":"x"}'))])
    requests: list[tuple[bytes, bytes, int]] = field(default_factory=list)  # (head, body, client port)
    port: int = 0
    connections: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        port = writer.get_extra_info("peername")[1]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                body = await reader.readexactly(length)
                self.requests.append((head, body, port))
                await self.answers[min(len(self.requests), len(self.answers)) - 1](writer)
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    scripted = Upstream()
    server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
    scripted.port = server.sockets[0].getsockname()[1]
    yield scripted
    server.close()


def tier_at(url: str, read: float = 5.0, pool_size: int = 10) -> dict[str, Tier]:
    return {"mini": Tier(model="gpt-5.4-mini", base_url=url, timeouts=Timeouts(read=read), pool_size=pool_size)}


@pytest.fixture
async def pool(upstream: Upstream) -> AsyncIterator[UpstreamPool]:
    pool = UpstreamPool(tier_at(f"http://127.0.0.1:{upstream.port}/v1", read=0.5))
    await pool.start()
    yield pool
    await pool.aclose()


async def test_a_request_is_posted_to_the_tier_and_answered_once_its_headers_arrive(
    pool: UpstreamPool, upstream: Upstream
) -> None:
    upstream.answers = [sends(http(b'{"id":"x"}', "x-request-id: req_1", status="201 Created"))]
    response = await pool.send("mini", "/chat/completions", b'{"model":"gpt-5.4-mini"}', {"traceparent": "00-ab"})
    assert (response.status, response.headers["X-Request-Id"]) == (201, "req_1")
    assert await response.read() == b'{"id":"x"}'
    head, body, _ = upstream.requests[0]
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/chat/completions HTTP/1.1" and body == b'{"model":"gpt-5.4-mini"}'
    assert f"host: 127.0.0.1:{upstream.port}" in lines and "traceparent: 00-ab" in lines
    assert "content-type: application/json" in lines and "content-length: 24" in lines


async def test_a_chunked_body_arrives_in_pieces_and_a_body_without_length_ends_with_its_connection(
    pool: UpstreamPool, upstream: Upstream
) -> None:
    upstream.answers = [
        sends(chunked(b"data: 1\n\n")[:-5], 0.05, b"9\r\ndata: 2\n\n\r\n0\r\n\r\n"),
        sends(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"whole":', 0.05, b"true}", None),
    ]
    response = await pool.send("mini", "/chat/completions", b"{}")
    pool.stream("mini", response)
    assert [await response.read_chunk() for _ in range(3)] == [b"data: 1\n\n", b"data: 2\n\n", b""]
    response.close()
    response = await pool.send("mini", "/chat/completions", b"{}")
    assert await response.read() == b'{"whole":true}'
    response.close()
    assert upstream.requests[0][2] == upstream.requests[1][2]  # the chunked answer left its connection reusable


async def test_a_gzip_encoded_answer_is_decoded(pool: UpstreamPool, upstream: Upstream) -> None:
    upstream.answers = [sends(http(gzip.compress(b'{"id":"zipped"}'), "content-encoding: gzip"))]
    response = await pool.send("mini", "/chat/completions", b"{}")
    assert await response.read() == b'{"id":"zipped"}'
    assert b"accept-encoding: gzip, deflate" in upstream.requests[0][0]


@pytest.mark.parametrize(
    ("answer", "kind", "detail"),
    [
        (sends(2.0), FailureKind.TIMEOUT, "no data for 0.5 s"),  # the read timeout, before the headers
        (sends(http(b'{"id":"x"}')[:-4], 2.0), FailureKind.TIMEOUT, "no data for 0.5 s"),  # ... in the body
        (sends(b"SSH-2.0-OpenSSH\r\n\r\n"), FailureKind.PROTOCOL_ERROR, "not an HTTP answer"),
        (sends(http(b'{"id":"x"}')[:-4], None), FailureKind.PROTOCOL_ERROR, "closed"),  # cut in its body
        (sends(http(b"x", "content-encoding: br")), FailureKind.PROTOCOL_ERROR, "content-encoding br"),
    ],
)
async def test_each_broken_call_is_one_failure_kind_wherever_it_breaks(
    pool: UpstreamPool, upstream: Upstream, answer: Answer, kind: FailureKind, detail: str
) -> None:
    """The client's code is `upstream_<kind>`: the same whether the headers or the body never came."""
    upstream.answers = [answer]
    with pytest.raises(UpstreamFailure) as caught:
        response = await pool.send("mini", "/chat/completions", b"{}")
        try:
            await response.read()
        finally:
            response.close()
    assert caught.value.kind is kind and detail in caught.value.detail
    upstream.answers = [sends(http(b"{}"))]  # and the pool serves the next request on a sound connection
    response = await pool.send("mini", "/chat/completions", b"{}")
    assert await response.read() == b"{}"


async def test_a_refused_connection_is_a_connect_error() -> None:
    """A port whose socket is bound but never listens: the kernel refuses."""
    with socket.socket() as closed_port:
        closed_port.bind(("127.0.0.1", 0))
        port = closed_port.getsockname()[1]
        pool = UpstreamPool(tier_at(f"http://127.0.0.1:{port}/v1"))
        await pool.start()
        try:
            with pytest.raises(UpstreamFailure) as caught:
                await pool.send("mini", "/chat/completions", b"{}")
            assert caught.value.kind is FailureKind.CONNECT_ERROR and str(port) in caught.value.detail
            assert await pool.probe("mini") is False
        finally:
            await pool.aclose()


async def test_stored_objects_are_fetched_and_readiness_asks_for_an_answer_below_500(
    pool: UpstreamPool, upstream: Upstream
) -> None:
    upstream.answers = [sends(http(b'{"error":{}}', status="404 Not Found"))]
    status, body, headers = await pool.request("mini", "DELETE", "/responses/resp_1")
    assert (status, body, headers["content-type"]) == (404, b'{"error":{}}', "application/json")
    assert upstream.requests[-1][0].startswith(b"DELETE /v1/responses/resp_1 HTTP/1.1\r\n")
    assert b"content-length" not in upstream.requests[-1][0]
    assert await pool.probe("mini") is True  # a 404 still proves the upstream answers HTTP
    assert upstream.requests[-1][0].startswith(b"GET /v1/models HTTP/1.1\r\n")
    upstream.answers = [sends(http(b"", status="503 Service Unavailable"))]
    assert await pool.probe("mini") is False
    upstream.answers = [sends(None)]
    assert await pool.probe("mini") is False


async def test_connections_are_kept_alive_unless_the_upstream_says_close(
    pool: UpstreamPool, upstream: Upstream
) -> None:
    upstream.answers = [sends(http(b"1")), sends(http(b"2")), sends(http(b"3", "connection: close")), sends(http(b"4"))]
    for expected in (b"1", b"2", b"3", b"4"):
        response = await pool.send("mini", "/chat/completions", b"{}")
        assert await response.read() == expected
        response.close()
    ports = [port for _, _, port in upstream.requests]
    assert ports[0] == ports[1] == ports[2] != ports[3]


async def test_a_connection_idle_past_the_keep_alive_is_closed_not_reused(
    pool: UpstreamPool, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream_wire, "KEEPALIVE_S", 0.05)
    response = await pool.send("mini", "/chat/completions", b"{}")
    await response.read()
    old = pool._connections["mini"]._idle[0]
    await asyncio.sleep(0.1)
    response = await pool.send("mini", "/chat/completions", b"{}")
    assert await response.read() == b'{"id":"x"}'
    await asyncio.sleep(0.05)
    assert old.closed and upstream.connections == 2 and pool._connections["mini"]._open == 1


async def test_a_connection_the_upstream_closed_while_idle_is_replaced_and_the_request_still_answered(
    pool: UpstreamPool, upstream: Upstream
) -> None:
    """The keep-alive race: the upstream closes an idle connection just as the next request is written on it, and
    answers not a byte there. The request goes again, once, on a new connection instead of failing."""
    upstream.answers = [sends(http(b"1")), sends(None), sends(http(b"2"))]
    response = await pool.send("mini", "/chat/completions", b"{}")
    assert await response.read() == b"1"
    response.close()
    response = await pool.send("mini", "/chat/completions", b"{}")  # the upstream drops the kept connection
    assert await response.read() == b"2"
    assert upstream.connections == 2 and len(upstream.requests) == 3


async def test_callers_past_the_tiers_pool_size_wait_for_a_connection(upstream: Upstream) -> None:
    upstream.answers = [sends(0.1, http(b"slow")), sends(http(b"next"))]
    pool = UpstreamPool(tier_at(f"http://127.0.0.1:{upstream.port}/v1", pool_size=1))
    await pool.start()
    try:

        async def call() -> bytes:
            response = await pool.send("mini", "/chat/completions", b"{}")
            try:
                return await response.read()
            finally:
                response.close()

        assert await asyncio.gather(call(), call()) == [b"slow", b"next"]
        for _ in range(3):  # an answer read whole gives its connection back without a `close` (the judge's way)
            response = await pool.send("mini", "/chat/completions", b"{}")
            assert await asyncio.wait_for(response.read(), 5) == b"next"
        assert upstream.connections == 1
    finally:
        await pool.aclose()


async def test_bytes_beyond_an_answers_end_retire_its_connection(pool: UpstreamPool, upstream: Upstream) -> None:
    """An answer longer than its declared length (or a second answer to one request): the first is served as
    declared, and the connection, whose next bytes cannot be trusted, is not reused."""
    upstream.answers = [sends(http(b"1") + http(b"smuggled")), sends(http(b"2"))]
    for expected in (b"1", b"2"):
        response = await pool.send("mini", "/chat/completions", b"{}")
        assert await response.read() == expected
    assert upstream.connections == 2


async def test_a_cookie_the_upstream_sets_is_never_sent_back(upstream: Upstream) -> None:
    """Every client's requests share the pool: an upstream's cookie (a load balancer's stickiness, a session)
    must not follow one client's answer into the next client's request. (aiohttp's session kept it and sent it
    back to a named host; an IP address it refused.)"""
    upstream.answers = [sends(http(b"1", "set-cookie: session=alice; Path=/")), sends(http(b"2"))]
    pool = UpstreamPool(tier_at(f"http://localhost:{upstream.port}/v1"))
    await pool.start()
    try:
        for _ in range(2):
            response = await pool.send("mini", "/chat/completions", b"{}")
            await response.read()
            response.close()
    finally:
        await pool.aclose()
    assert len(upstream.requests) == 2 and b"cookie" not in upstream.requests[1][0].lower()


async def test_a_line_break_never_reaches_the_request_line_or_a_header(pool: UpstreamPool, upstream: Upstream) -> None:
    with pytest.raises(ValueError, match="line break"):
        await pool.send("mini", "/chat/completions", b"{}", {"x-client-request-id": "a\r\nauthorization: x"})
    assert upstream.requests == []
    await pool.request("mini", "GET", "/responses/resp 1\r\nx-injected: 1")
    assert upstream.requests[0][0].startswith(b"GET /v1/responses/resp%201%0D%0Ax-injected%3A%201 HTTP/1.1\r\n")
    assert b"x-injected:" not in upstream.requests[0][0]


async def test_an_idle_stream_is_cut_after_its_tiers_read_timeout_and_reads_as_a_timeout(
    pool: UpstreamPool, upstream: Upstream
) -> None:
    upstream.answers = [sends(STREAM_HEAD + b"9\r\ndata: 1\n\n\r\n", 5.0)]
    response = await pool.send("mini", "/chat/completions", b"{}")
    pool.stream("mini", response)
    assert await response.read_chunk() == b"data: 1\n\n"
    assert pool.streams == {response}  # timed by the pool's sweeper, not by the connection's timer
    await asyncio.sleep(0.7)  # past the tier's 0.5 s read timeout: only the sweeper cuts it
    assert response.body_source() is not None
    sweeper = asyncio.create_task(pool._sweep(every_s=0.01))
    try:
        with pytest.raises(UpstreamFailure) as caught:
            await asyncio.wait_for(response.read_chunk(), 5)
    finally:
        sweeper.cancel()
    assert (caught.value.kind, caught.value.detail) == (FailureKind.TIMEOUT, "no data for 0.5 s")
    assert pool.streams == set()
    response.close()


async def test_a_body_that_already_arrived_whole_is_not_timed(pool: UpstreamPool, upstream: Upstream) -> None:
    response = await pool.send("mini", "/chat/completions", b"{}")
    await asyncio.sleep(0.05)
    pool.stream("mini", response)
    assert pool.streams == set() and await response.read() == b'{"id":"x"}'


async def test_closing_the_pool_closes_its_idle_connections(pool: UpstreamPool, upstream: Upstream) -> None:
    response = await pool.send("mini", "/chat/completions", b"{}")
    await response.read()
    response.close()
    connection = pool._connections["mini"]._idle[0]
    await pool.aclose()
    await asyncio.sleep(0.05)
    assert connection.closed
    await pool.aclose()  # twice is harmless


@pytest.fixture
def upstream_certificate(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A self-signed certificate for 127.0.0.1 (made by openssl): (certificate, key)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [shutil.which("openssl") or "/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes"]
        + ["-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    yield cert, key


async def test_an_https_tier_is_spoken_to_over_verified_tls(
    upstream: Upstream, upstream_certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = upstream_certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0, ssl=context)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    try:
        untrusted = UpstreamPool(tier_at(url))  # the system's authorities: a self-signed certificate is refused
        await untrusted.start()
        with pytest.raises(UpstreamFailure) as caught:
            await untrusted.send("mini", "/chat/completions", b"{}")
        assert caught.value.kind is FailureKind.CONNECT_ERROR and "(TLS)" in caught.value.detail
        await untrusted.aclose()
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trusted as an operator would make it trusted
        pool = UpstreamPool(tier_at(url))
        await pool.start()
        response = await pool.send("mini", "/chat/completions", b"{}")
        assert await response.read() == b'{"id":"x"}'
        response.close()
        await pool.aclose()
        assert upstream.requests[-1][0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    finally:
        server.close()
