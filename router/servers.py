"""Running ASGI apps on real loopback sockets in background threads.

The demo starts emulated upstreams and the proxy side by side in one process, and the
tests do the same; both need real HTTP servers on free ports, started and stopped cleanly.
Each server gets its own thread and event loop (uvloop + httptools, as in production) and
a socket bound before the thread starts, so the port is known and never raced for.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from router import accept_burst

DRAIN_MARGIN_S = 1.0  # streams still open this long before the graceful timeout are ended by routetax itself


class DrainingServer(uvicorn.Server):
    """uvicorn's server, telling the app when a shutdown starts and how long its drain may last.

    uvicorn waits `timeout_graceful_shutdown` for open requests, then cancels them: a stream cut that way
    ends mid-event, with no error and no `[DONE]`, and its record reads as if the client had left. An app
    with `begin_shutdown(grace_s)` (router.hot_routes) ends its own streams properly just before that.

    Its listening sockets accept in bursts when the protocol asks for it (router/accept_burst.py).
    """

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._accept_burst = accept_burst.install(self) if self.started else None

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        burst = getattr(self, "_accept_burst", None)
        if burst is not None:  # stop taking connections before uvicorn closes its listeners
            burst.close()
        begin = getattr(self.config.app, "begin_shutdown", None)
        timeout = self.config.timeout_graceful_shutdown
        if begin is not None and timeout is not None:  # None: uvicorn waits for every request, and so do we
            begin(max(0.0, timeout - DRAIN_MARGIN_S))
        await super().shutdown(sockets)


@dataclass
class RunningServer:
    server: uvicorn.Server
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def start_in_thread(app: object, host: str = "127.0.0.1", port: int = 0, name: str = "server") -> RunningServer:
    """Serve `app` on host:port (0 = a free port) until `stop()`; returns once it accepts connections."""
    sock = bind_socket(host, port)
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http=getattr(app, "http_protocol", "httptools"),  # the proxy limits its request headers (router.http_limits)
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = DrainingServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"{name} failed to start")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start within 15 s")
        time.sleep(0.01)
    return RunningServer(server, thread, host, sock.getsockname()[1])
