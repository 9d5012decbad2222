"""Every store URL the configuration accepts reaches its Redis the way its scheme says (a real redis-server).

`store.redis_url` may be `redis://`, `rediss://` (TLS) or `unix://` (a socket). The client once forced its own
TCP connection class on all three, so a `rediss://` store was spoken to in clear text (and a TLS-only Redis
refused it) and a `unix://` one could not be reached at all.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from metering.store import open_store
from metering.store_wire import StoreWire
from tests.redis_server import RedisServer, free_port


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[int]:
    """A redis-server that also listens with TLS (a self-signed certificate): its TLS port."""
    openssl = shutil.which("openssl") or "/usr/bin/openssl"
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert)]
        + ["-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    tls_port = free_port()
    tls = ["--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    with RedisServer(extra_args=[*tls, "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"]):
        yield tls_port


@pytest.fixture
def socket_redis(tmp_path: Path) -> Iterator[Path]:
    """A redis-server that also listens on a unix socket: its path."""
    path = tmp_path / "redis.sock"
    with RedisServer(extra_args=["--unixsocket", str(path), "--unixsocketperm", "700"]):
        yield path


async def test_a_rediss_url_speaks_tls(tls_redis: int) -> None:
    store = open_store(f"rediss://127.0.0.1:{tls_redis}/0?ssl_cert_reqs=none")
    try:
        assert await store.set("ledger-probe", "1")
        assert await store.get("ledger-probe") == b"1"
        assert StoreWire.for_store(store) is None  # TLS: the task writer keeps the client too
    finally:
        await store.aclose()


async def test_a_unix_url_reaches_the_socket_and_so_does_the_task_writers_wire(socket_redis: Path) -> None:
    store = open_store(f"unix://{socket_redis}?db=2")
    wire = StoreWire.for_store(store)
    assert wire is not None
    try:
        assert await store.set("ledger-probe", "1")
        assert await wire.call("GET", "ledger-probe") == b"1"  # the same database over the same socket
        assert await wire.call("SET", "wire-probe", "2") == b"OK"
        assert await store.get("wire-probe") == b"2"
    finally:
        await wire.aclose()
        await store.aclose()
