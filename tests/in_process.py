"""Helpers for unit tests of the request path: a Lua-capable store in this process, a clock the test moves, and
the client's socket as uvicorn's protocol sees it.

The store is fakeredis (what `metering.store.open_in_process_store` serves the quickstart with), so the
key store's gate and settle scripts run for real; its server can be switched off to play an outage.
"""

from __future__ import annotations

import types
from dataclasses import dataclass

import fakeredis
import pytest


@dataclass
class Clock:
    """Stands in for the `time` module of the code under test: wall and monotonic time move together."""

    now: float = 1_778_760_000.0  # 2026-05-14 12:00 UTC: mid-day, mid-month

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def install(self, monkeypatch: pytest.MonkeyPatch, *modules: types.ModuleType) -> Clock:
        """Make `modules` (which `import time`) read this clock."""
        for module in modules:
            monkeypatch.setattr(module, "time", self)
        return self


@dataclass
class InProcessStore:
    redis: fakeredis.FakeAsyncRedis
    server: fakeredis.FakeServer

    @classmethod
    def open(cls) -> InProcessStore:
        server = fakeredis.FakeServer()
        return cls(fakeredis.FakeAsyncRedis(server=server), server)

    def down(self) -> None:
        """Every command fails with a connection error, as when Redis is unreachable."""
        self.server.connected = False

    def up(self) -> None:
        self.server.connected = True


class FakeTransport:
    """What the protocol writes, and whether it closed the connection."""

    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...
