"""SIGTERM under load, many times over: how many `routetax serve` processes fail to exit (hang), and how long
the others take.

Each cycle starts `routetax serve` (metering on, the ledger in a real redis-server, so every background loop
that talks to the store runs), drives it with four clients until `--requests` answers came back, sends SIGTERM
and waits up to `--bound` seconds for the process to go. A process still there is a hang: counted, its log kept,
then killed. Usage: python bench/sigterm_hangs.py [--cycles 200] [--requests 40] [--bound 30]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from perf import free_port, start_routetax, start_upstream_and_redis, stop  # noqa: E402

BODY = {"model": "auto", "messages": [{"role": "user", "content": "Hi"}]}


def cycle(upstream: str, redis_url: str, tmp: Path, requests: int, bound_s: float) -> float | None:
    """One start, load, SIGTERM: seconds from the signal to the exit, or None when it did not exit in time."""
    port = free_port()
    try:
        proxy = start_routetax(upstream, redis_url, True, port, tmp, launcher=[sys.executable, "-m", "cli"])
    except RuntimeError:  # did not come up (a loaded machine): said, and not counted either way
        log = tmp / f"routetax-{port}.log"
        print(f"start failed; its log ends: {log.read_text()[-1500:] if log.exists() else '(none)'}", flush=True)
        raise
    answered = threading.Semaphore(0)
    done = threading.Event()

    def drive() -> None:
        with httpx.Client(timeout=10) as client:
            while not done.is_set():
                try:
                    client.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=BODY)
                except httpx.HTTPError:
                    return
                answered.release()

    clients = [threading.Thread(target=drive) for _ in range(4)]
    for client in clients:
        client.start()
    try:
        for _ in range(requests):
            if not answered.acquire(timeout=30):
                raise RuntimeError("no answers: see the proxy's log in " + str(tmp))
        signalled = time.monotonic()
        proxy.send_signal(signal.SIGTERM)
        try:
            proxy.wait(bound_s)
            return time.monotonic() - signalled
        except subprocess.TimeoutExpired:
            return None
    finally:
        done.set()
        for client in clients:
            client.join(20)
        if proxy.poll() is None:
            proxy.kill()
            proxy.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--requests", type=int, default=40, help="answers before each SIGTERM")
    parser.add_argument("--bound", type=float, default=30.0, help="seconds a process may take to exit")
    args = parser.parse_args()
    background: list[subprocess.Popen | None] = []
    exits: list[float] = []
    hangs = failed_starts = 0
    try:
        upstream, redis_url = start_upstream_and_redis(background)
        with tempfile.TemporaryDirectory(prefix="routetax-sigterm-") as directory:
            for n in range(1, args.cycles + 1):
                try:
                    took = cycle(upstream, redis_url, Path(directory), args.requests, args.bound)
                except RuntimeError:
                    failed_starts += 1
                    continue
                if took is None:
                    hangs += 1
                    print(f"cycle {n}: HANG (no exit within {args.bound:.0f} s)", flush=True)
                else:
                    exits.append(took)
                if n % 10 == 0:
                    print(f"{n} cycles: {hangs} hangs", flush=True)
    finally:
        for process in background:
            stop(process)
    if exits:
        print(
            f"{len(exits) + hangs} SIGTERMs under load ({failed_starts} starts failed): {hangs} hangs; "
            f"exit after the signal p50 {statistics.median(exits):.2f} s, max {max(exits):.2f} s"
        )
    return 1 if hangs else 0


if __name__ == "__main__":
    sys.exit(main())
