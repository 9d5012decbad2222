"""Issue 32, a shutdown that ends: SIGTERM under load, again and again, and every process exits in bounded time.

A real `routetax serve` on a real Redis (so every background loop that talks to the store runs: shared
breakers, cache affinity, task continuations, the ledger), four clients sending requests, then SIGTERM.
Each process must exit — drained, flushed, its ledger's last line said — well within its bound: the 10 s
drain plus the bounded stops of its background tasks. `bench/sigterm_hangs.py` runs the same cycle hundreds of times.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from emulator.app import build_emulator
from tests.conftest import serve_config_file
from tests.redis_server import RedisServer, free_port
from tests.running import Processes, Servers

CYCLES = 5
EXIT_BOUND_S = 30.0  # a hang, not a speed: a process that has not exited by then never would
HELLO = {"model": "auto", "messages": [{"role": "user", "content": "Hi"}]}


def up(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError("routetax serve did not come up")


def drive(port: int, answered: threading.Semaphore, stop: threading.Event) -> None:
    """One client sending requests until `stop` (or the proxy is gone), releasing `answered` per answer."""
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            try:
                client.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=HELLO)
            except httpx.HTTPError:
                return
            answered.release()


def test_repeated_sigterms_under_load_always_end_the_process(
    redis_server: RedisServer, tmp_path: Path, serve_in_thread: Servers, processes: Processes
) -> None:
    emulator = serve_in_thread(build_emulator(seed=5), name="emulator")
    config = serve_config_file(tmp_path, emulator.url, redis_server.url)
    for cycle in range(CYCLES):
        port = free_port()
        log = tmp_path / f"proxy-{cycle}.log"
        with open(log, "wb") as out:
            proxy = processes.start(
                [sys.executable, "-m", "cli", "serve", "--config", str(config), "--port", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=out,
            )
        up(port, proxy)
        answered, stop = threading.Semaphore(0), threading.Event()
        clients = [threading.Thread(target=drive, args=(port, answered, stop)) for _ in range(4)]
        for client in clients:
            client.start()
        for _ in range(40):  # load is flowing: the signal lands mid-request
            assert answered.acquire(timeout=20)
        proxy.send_signal(signal.SIGTERM)
        try:
            code = proxy.wait(EXIT_BOUND_S)
        finally:
            stop.set()
            for client in clients:
                client.join(20)
        said = log.read_text()
        assert code in (0, -signal.SIGTERM), said[-3000:]  # uvicorn re-raises the signal once it has shut down
        assert "ledger: no record lost in this run" in said, said[-3000:]  # the drain and the flush completed
