"""Connections waiting to be accepted are taken together, not one per event-loop iteration (router/accept_burst.py).

uvloop accepts one connection per loop iteration; behind a busy loop (1,000 streams relaying) that left
hundreds of new streams in the kernel's accept queue for seconds. These tests pin that uvloop behaviour
(if a uvloop upgrade accepts in bulk itself, the first test says so and the burst can go), show the burst
taking the whole queue at once, and check routetax's server: every one of many simultaneous connections is
served, and once the server stops its port takes no more connections (the duplicate socket is closed).
"""

from __future__ import annotations

import asyncio
import socket

import uvloop

from demo.world import demo_config
from router.accept_burst import AcceptBurst
from router.app import create_app

WAITING = 200
ITERATIONS = 20


def accepted_per_iteration(with_burst: bool) -> list[int]:
    """WAITING connections queued while the loop was busy, then how many each loop iteration accepts."""
    accepted: list[asyncio.BaseTransport] = []
    burst: AcceptBurst | None = None

    class Counted(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.append(transport)
            if burst is not None:
                burst()

    async def scenario() -> list[int]:
        nonlocal burst
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Counted, "127.0.0.1", 0, backlog=1024)
        if with_burst:
            burst = AcceptBurst(list(server.sockets), Counted)
        port = server.sockets[0].getsockname()[1]
        # Connected by the kernel while the loop is busy here (blocking calls): all of them wait to be accepted.
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(WAITING)]
        counts = []
        for _ in range(ITERATIONS):
            before = len(accepted)
            await asyncio.sleep(0)  # one loop iteration
            counts.append(len(accepted) - before)
        if burst is not None:
            burst.close()
        server.close()
        for client in clients:
            client.close()
        return counts

    return uvloop.run(scenario())


def test_uvloop_alone_accepts_one_connection_per_loop_iteration() -> None:
    counts = accepted_per_iteration(with_burst=False)
    assert max(counts) == 1 and sum(counts) < ITERATIONS


def test_the_burst_takes_every_waiting_connection_within_a_few_iterations() -> None:
    counts = accepted_per_iteration(with_burst=True)
    iterations_to_all = next(i for i in range(ITERATIONS) if sum(counts[: i + 1]) == WAITING) + 1
    assert iterations_to_all <= ITERATIONS // 2  # uvloop alone would need WAITING of them


def test_routetax_serves_every_simultaneous_connection_and_its_port_closes_when_it_stops(serve_in_thread) -> None:
    running = serve_in_thread(create_app(demo_config("http://127.0.0.1:9")), name="burst-proxy")
    assert running.server.server_state.accept_burst is not None
    clients = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(WAITING)]
    for client in clients:
        client.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    answers = []
    for client in clients:
        client.settimeout(10)
        answers.append(client.recv(64))
        client.close()
    assert all(answer.startswith(b"HTTP/1.1 200") for answer in answers)
    running.stop()
    try:
        socket.create_connection(("127.0.0.1", running.port), timeout=2).close()
        refused = False
    except ConnectionRefusedError:
        refused = True
    assert refused
