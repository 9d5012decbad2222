"""An idle kept-alive connection stays open longer than clients keep theirs (`server.keep_alive_s`).

uvicorn closes an idle connection after 5 s, the same as httpx's (and so the openai SDK's) pool expiry: a client
reusing its connection at that moment had its request cut (httpcore.ReadError), as
tests/test_task_identity_acceptance.py saw in CI. The client must be the side that closes an idle connection.
"""

from __future__ import annotations

import http.client
import time

from demo.world import demo_config
from router.config import Config
from router.servers import RunningServer


def _healthz(connection: http.client.HTTPConnection) -> int:
    connection.request("GET", "/healthz")
    response = connection.getresponse()
    response.read()
    return response.status


def test_a_connection_idle_longer_than_uvicorns_five_seconds_is_still_served(proxy: RunningServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        assert _healthz(connection) == 200
        first_socket = connection.sock
        time.sleep(6)  # past uvicorn's 5 s, short of the 120 s default
        assert _healthz(connection) == 200
        assert connection.sock is first_socket, "the same connection answered: it was kept"
    finally:
        connection.close()


def test_an_idle_connection_is_closed_after_keep_alive_s(emulator: RunningServer, start_proxy) -> None:
    base = demo_config(emulator.url).model_dump()
    base["server"] = {"keep_alive_s": 0.5}
    proxy = start_proxy(Config.model_validate(base))
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        assert _healthz(connection) == 200
        assert connection.sock is not None
        connection.sock.settimeout(5)
        started = time.monotonic()
        assert connection.sock.recv(1) == b"", "the server closed the idle connection"
        assert 0.3 < time.monotonic() - started < 3
    finally:
        connection.close()
