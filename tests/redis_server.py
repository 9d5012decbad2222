"""A real `redis-server` for tests: own temp dir, free loopback port, no persistence, killable.

Tests that claim "nothing is lost when Redis dies" must kill a real server, so this starts
Debian's `redis-server` as a child process and can SIGKILL it and start a fresh, empty one
on the same port. `--save "" --appendonly no` means a restart really forgets everything,
which is the harshest case for the ledger.

Use from a conftest:

    from tests.redis_server import module_redis_server, redis_cluster, redis_server, redis_url  # noqa: F401
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too.

    Both are drawn below Linux's ephemeral range (32768 and up), where the kernel picks the ports of
    outgoing connections and of `free_port()`: a pair drawn inside it could be taken between this check
    and the node's start (seen once: a cluster node exited at start, its bus port taken).
    """
    for _ in range(200):
        port = random.randint(10000, 22767)
        try:
            for candidate in (port, port + 10000):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisServer:
    """One redis-server process on 127.0.0.1:`port`, restartable on the same port."""

    def __init__(
        self,
        port: int | None = None,
        directory: str | os.PathLike[str] | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.extra_args = extra_args or []
        self._own_dir = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="routetax-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        """Start (or restart) the server and wait until it answers PING."""
        if self.running:
            return self
        log = open(self.directory / "redis.log", "ab")
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                "--daemonize",
                "no",
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"redis-server exited with {code}; see {self.directory}/redis.log")
            if self._ping():
                return self
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout_s}s")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save — the crash the ledger has to survive."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        """A clean SIGTERM shutdown (still nothing persisted: saving is off)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> RedisServer:
        """Kill and start again on the same port, empty."""
        self.kill()
        return self.start()

    def close(self) -> None:
        self.kill()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class RedisClusterServers:
    """A 3-primary Redis Cluster on loopback (no replicas), made with `redis-cli --cluster create`."""

    def __init__(self, nodes: int = 3) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="routetax-cluster-"))
        self.servers: list[RedisServer] = []
        for _ in range(nodes):
            port = free_cluster_port()
            node_dir = self.directory / str(port)
            node_dir.mkdir()
            cluster_args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            self.servers.append(RedisServer(port, node_dir, extra_args=cluster_args))

    @property
    def url(self) -> str:
        """Any one node: the cluster client discovers the rest."""
        return self.servers[0].url

    def start(self, timeout_s: float = 30.0) -> RedisClusterServers:
        try:
            return self._start(timeout_s)
        except BaseException:
            self.close()
            raise

    def _start(self, timeout_s: float) -> RedisClusterServers:
        for server in self.servers:
            server.start()
        subprocess.run(
            [
                shutil.which("redis-cli") or "/usr/bin/redis-cli",
                "--cluster",
                "create",
                *[f"127.0.0.1:{s.port}" for s in self.servers],
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=timeout_s,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(self._state_ok(s.port) for s in self.servers):
                return self
            time.sleep(0.05)
        raise RuntimeError("redis cluster did not reach cluster_state:ok")

    def close(self) -> None:
        for server in self.servers:
            server.kill()
        shutil.rmtree(self.directory, ignore_errors=True)

    @staticmethod
    def _state_ok(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"CLUSTER INFO\r\n")
                return b"cluster_state:ok" in s.recv(4096)
        except OSError:
            return False

    def __enter__(self) -> RedisClusterServers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def redis_available() -> bool:
    return os.path.exists(REDIS_SERVER)


def _require_redis() -> None:
    if not redis_available():
        pytest.fail("redis-server is not installed (apt-get install redis-server; .ci/run does it)")


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh, empty redis-server for one test; the test may kill and restart it."""
    _require_redis()
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="module")
def module_redis_server() -> Iterator[RedisServer]:
    """One redis-server shared by a module's tests (for module-scoped proxies); tests must not kill it."""
    _require_redis()
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_cluster() -> Iterator[RedisClusterServers]:
    """A fresh 3-node Redis Cluster on loopback for one test (about two seconds to form)."""
    _require_redis()
    with RedisClusterServers() as cluster:
        yield cluster


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url
