"""Run llama.cpp's `llama-server` on a loopback port, wait until it serves, stop it by its PID.

Used by the tests' fixture and by `routetax demo --qwen local`. The server answers `/health`
with 503 while it loads the model and 200 once it can serve; we wait for the 200. It is stopped
by the PID we started (SIGTERM, then SIGKILL), never by name: other engines may run on the machine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ALIAS = "routetax-tiny-qwen3"
DEFAULT_CONTEXT = 4096


class EngineStartError(RuntimeError):
    """The server exited or never became healthy; the message carries the end of its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalEngine:
    """One llama-server process. `start()` blocks until `/health` answers 200."""

    binary: Path
    model: Path
    alias: str = DEFAULT_ALIAS
    context: int = DEFAULT_CONTEXT
    slots: int = 2
    threads: int = 1
    port: int = 0  # 0: a free loopback port, chosen at start (and kept across restarts)
    log_path: Path = field(default_factory=lambda: Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1]))
    process: subprocess.Popen[bytes] | None = None
    ready_s: float | None = None  # how long the last start took to answer /health 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            str(self.binary),
            "-m", str(self.model),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "-c", str(self.context),
            "-np", str(self.slots),
            "-t", str(self.threads),
            "--jinja",
            "-a", self.alias,
        ]  # fmt: skip

    def start(self, timeout_s: float = 30.0) -> LocalEngine:
        if self.port == 0:
            self.port = free_port()
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        while time.monotonic() - started < timeout_s:
            if self.process.poll() is not None:
                raise EngineStartError(f"llama-server exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.healthy():
                self.ready_s = time.monotonic() - started
                return self
            time.sleep(0.02)
        self.stop()
        raise EngineStartError(f"llama-server was not healthy within {timeout_s} s:\n{self.log_tail()}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def kill(self) -> None:
        """SIGKILL, as a crash would end it: no goodbye on open connections."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> LocalEngine:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if os.environ.get("ROUTETAX_KEEP_ENGINE_LOG") is None:
            self.log_path.unlink(missing_ok=True)
