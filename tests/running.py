"""The one door through which tests start servers and processes, and the guard that keeps unit tests out.

A test is end to end exactly when it requests (directly or through other fixtures) a fixture that starts
a server or a process; `tests/conftest.py` marks it so from its fixtures, never from its module's text.
That only holds if nothing starts a server or a process another way, so every start goes through the
fixtures here — which also stop what they started, even when the test fails — and `forbid_starting`
makes a unit test that starts one anyway fail at once, naming the fixture to use.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn

from router.servers import RunningServer, start_in_thread


class Servers:
    """ASGI apps served on loopback in background threads (`router.servers.start_in_thread`), stopped together."""

    def __init__(self) -> None:
        self._started: list[RunningServer] = []

    def __call__(self, app: object, host: str = "127.0.0.1", port: int = 0, name: str = "server") -> RunningServer:
        server = start_in_thread(app, host=host, port=port, name=name)
        self._started.append(server)
        return server

    def stop_all(self) -> None:
        while self._started:
            self._started.pop().stop()


class Processes:
    """Child processes: `start` (a long-lived Popen, stopped at the end) and `run` (to completion)."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen[Any]] = []

    def start(self, args: Any, **popen: Any) -> subprocess.Popen[Any]:
        process = subprocess.Popen(args, **popen)
        self._started.append(process)
        return process

    def run(self, args: Any, **run: Any) -> subprocess.CompletedProcess[Any]:
        return subprocess.run(args, **run)

    def stop_all(self) -> None:
        """SIGTERM, a grace of 10 s, then SIGKILL: a test that failed half way leaves no process behind."""
        while self._started:
            process = self._started.pop()
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def serve_in_thread() -> Iterator[Servers]:
    """`serve_in_thread(app, name=...)` -> RunningServer on a free loopback port; stopped after the test."""
    servers = Servers()
    yield servers
    servers.stop_all()


@pytest.fixture(scope="module")
def module_serve_in_thread() -> Iterator[Servers]:
    """`serve_in_thread` for a module-scoped fixture: the servers live until the module's last test."""
    servers = Servers()
    yield servers
    servers.stop_all()


@pytest.fixture
def processes() -> Iterator[Processes]:
    """`processes.start(argv, ...)` / `processes.run(argv, ...)`; every process started is stopped after the test."""
    started = Processes()
    yield started
    started.stop_all()


@pytest.fixture(scope="session")
def run_demo_world() -> Callable[..., dict[str, Any]]:
    """`demo.world.run_world`: each call serves emulators and a proxy on loopback for the run."""
    from demo.world import run_world

    return run_world


# The fixtures that start a server or a process themselves; a test requesting any of them (or a fixture that
# does) is end to end. Fixtures built on these (`proxy`, `client`, `redis_url`, ...) need no entry.
STARTING_FIXTURES = frozenset(
    {
        "emulator",
        "start_proxy",
        "redis_server",
        "module_redis_server",
        "redis_cluster",
        "llama_server_binary",  # builds llama.cpp on first use
        "local_qwen",
        "serve_in_thread",
        "upstream_certificate",  # openssl makes it (tests/test_upstream_unit.py)
        "module_serve_in_thread",
        "processes",
        "run_demo_world",
        "tls_redis",  # tests/test_store_urls.py: redis-server on TLS and on a unix socket
        "socket_redis",
    }
)


def starts_something(fixturenames: Iterator[str] | list[str]) -> bool:
    return not STARTING_FIXTURES.isdisjoint(fixturenames)


class StartedInUnitTest(AssertionError):
    """A unit-marked test started a server or a process; it must get it through a fixture (and so be e2e)."""


def _refuse(what: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise StartedInUnitTest(
            f"unit test started {what}: use a fixture (serve_in_thread, processes, emulator, redis_server, ... "
            "listed in tests/running.py STARTING_FIXTURES) so the test is marked e2e"
        )

    return refuse


@contextlib.contextmanager
def forbid_starting() -> Iterator[None]:
    """While active, starting a process or a uvicorn server raises StartedInUnitTest.

    Patched at the classes every start goes through, whatever name a module imported them under:
    `subprocess.Popen` (also behind `subprocess.run` and asyncio's subprocesses) and `uvicorn.Server`
    (behind `router.servers.start_in_thread`, `demo.world.run_world`, `uvicorn.run`).
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "__init__", _refuse("a process"))
        patch.setattr(uvicorn.Server, "__init__", _refuse("a server"))
        yield
