"""A relayed event's instructions in the proxy, by callgrind: a per-event cost the machine's load does not move.

bench/streams.py measures CPU time per event, which a busy neighbour moves by tens of percent (shared caches, and a
starved proxy reads several events per system call, so it pays less per event). This counts instructions instead:
the proxy runs under `valgrind --tool=callgrind` with instrumentation off, a few streams are opened through it
(bench/stream_upstream.py, bench/stream_clients.py) and, once every stream has started, instrumentation is turned on
for a window (`callgrind_control -i on`), then off, and the count is divided by the events the clients received in
that window. The streams are few and slow (default 5 streams, one event every 50–100 ms) so that even at valgrind's
speed every event arrives alone, as at a quiet proxy; the opening of the streams and their ends are outside the window.

Counted: the proxy's own user-space work per event (Python, uvloop, aiohttp's parser, the C libraries). Not counted:
the system calls' time in the kernel, which bench/streams.py's `raw` floor is mostly made of. `--raw` counts the raw
relay floor (bench/raw_relay.py) the same way, for the user-space part of that floor.

`--json N` counts a small JSON request instead (bench/perf.py's small prompt, N of them one after another after 100
of warm-up, then an idle window as long): the whole request path and what metering does after the answer.

Run: .venv/bin/python bench/relay_instructions.py [--tree DIR] [--streams 5] [--window-s 20] [--raw] [--json N]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from perf import PROXY_CORE, REST_CORE, free_port, payload, pinned, start_routetax, wait_port  # noqa: E402
from stream_clients import Tally, wave  # noqa: E402
from streams import body  # noqa: E402

VALGRIND = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]


def callgrind_control(*args: str) -> str:
    return subprocess.run(["callgrind_control", *args], capture_output=True, text=True, timeout=120).stdout


def instructions_in(dump: Path) -> int:
    """The instructions in one callgrind dump (its `totals:`, else its `summary:`)."""
    counts = [
        int(line.split()[1])
        for line in dump.read_text(errors="replace").splitlines()
        if line.startswith(("summary:", "totals:"))
    ]
    return max(counts, default=0)


def counted(pid: int, seconds: float) -> None:
    """Instrumentation on for `seconds`, then off, then a dump (numbered `.1`, `.2`, ... in order)."""
    callgrind_control("-i", "on", str(pid))
    time.sleep(seconds)
    callgrind_control("-i", "off", str(pid))
    callgrind_control("-d", str(pid))


async def measure(port: int, pid: int, streams: int, window_s: float) -> int:
    """Count an idle window (dump 1), then open the streams and count a window while they run (dump 2).

    Returns the events the clients received in the second window."""
    await asyncio.to_thread(counted, pid, window_s)  # the proxy's background work alone: timers, flushes
    tally = Tally()
    running = asyncio.create_task(wave(port, body(""), streams, streams, 600, tally))
    deadline = time.monotonic() + 120
    while len(tally.ttfts) < streams:
        if time.monotonic() > deadline or running.done():
            raise RuntimeError(f"only {len(tally.ttfts)} of {streams} streams started: {tally.errors}")
        await asyncio.sleep(0.2)
    await asyncio.sleep(2)  # past the streams' openings
    before = len(tally.delays)  # one a delivered event, appended as it arrives
    await asyncio.to_thread(counted, pid, window_s)
    events = len(tally.delays) - before
    if tally.errors:
        raise RuntimeError(f"streams failed: {tally.errors}")
    running.cancel()
    return events


def send_json(port: int, requests: int, over_s: float) -> None:
    """`requests` small chat completions one after another on one keep-alive connection, paced over `over_s`."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    data = payload("small", False)
    started = time.monotonic()
    for index in range(requests):
        delay = started + index * over_s / requests - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        connection.request("POST", "/v1/chat/completions", data, {"content-type": "application/json"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"a JSON request answered {response.status}")
    connection.close()


def measure_json(port: int, pid: int, requests: int) -> tuple[int, float]:
    """Warm the proxy, count `requests` JSON requests sent one after another (dump 1), then an idle window as
    long (dump 2): the requests' count, and how long they took. Unpaced, so that time-driven work (the ledger's
    flushes, the auto policy's window every few seconds) is spread over as many requests as the proxy serves."""
    send_json(port, 100, 0)  # first requests pay for cold paths (the tokenizer, caches): not what is counted
    time.sleep(2)
    callgrind_control("-i", "on", str(pid))
    started = time.monotonic()
    send_json(port, requests, 0)
    time.sleep(1)  # the last answers' metering, after they were sent
    elapsed = time.monotonic() - started
    callgrind_control("-i", "off", str(pid))
    callgrind_control("-d", str(pid))
    counted(pid, elapsed)
    return requests, elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", type=Path, default=HERE.parent, help="the source tree whose proxy is counted")
    ap.add_argument("--streams", type=int, default=5)
    ap.add_argument("--interval-ms", default="50-100")
    ap.add_argument("--window-s", type=float, default=20.0)
    ap.add_argument("--raw", action="store_true", help="count the raw relay floor instead of routetax")
    ap.add_argument("--keep", type=Path, help="copy callgrind's dumps here (for callgrind_annotate)")
    ap.add_argument(
        "--json", type=int, metavar="N", help="count N small JSON requests at concurrency 1 instead of stream events"
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="routetax-relay-instr-") as name:
        tmp = Path(name)
        out = tmp / "callgrind.out"
        up_port, redis_port, port = free_port(), free_port(), free_port()
        background = [
            pinned(
                REST_CORE,
                [sys.executable, str(HERE / "stream_upstream.py"), str(up_port), "--interval-ms", args.interval_ms]
                + ["--duration-s", f"{args.window_s + 60:g}-{args.window_s + 60:g}"],
            ),
            pinned(
                REST_CORE,
                ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL,
            ),
        ]
        proxy = None
        try:
            wait_port(up_port)
            wait_port(redis_port)
            grind = [*VALGRIND, f"--callgrind-out-file={out}", sys.executable]
            if args.raw:
                argv = [*grind, str(HERE / "raw_relay.py"), str(port), str(up_port)]
                proxy = pinned(PROXY_CORE, argv, stderr=subprocess.DEVNULL)
                wait_port(port, timeout=300)
            else:
                launcher = ["env", f"PYTHONPATH={args.tree}", *grind, "-m", "cli"]
                proxy = start_routetax(
                    f"http://127.0.0.1:{up_port}",
                    f"redis://127.0.0.1:{redis_port}/0",
                    True,
                    port,
                    tmp,
                    launcher,
                    wait_s=300,
                )
            pid = proxy.pid
            # taskset execs valgrind in place: the pid is valgrind's, which callgrind_control addresses
            if args.json:
                events, args.window_s = measure_json(port, pid, args.json)
                busy, idle = (instructions_in(out.with_name(f"{out.name}.{n}")) for n in (1, 2))
            else:
                events = asyncio.run(measure(port, pid, args.streams, args.window_s))
                idle, busy = (instructions_in(out.with_name(f"{out.name}.{n}")) for n in (1, 2))
            if args.keep is not None:
                args.keep.mkdir(parents=True, exist_ok=True)
                for dump in tmp.glob(out.name + "*"):
                    shutil.copy(dump, args.keep / dump.name)
        finally:
            for proc in [proxy, *background]:
                if proc is not None:
                    proc.terminate()
            for proc in [proxy, *background]:
                if proc is not None:
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
        what = "raw relay" if args.raw else f"routetax ({args.tree})"
        unit = "JSON requests" if args.json else "events"
        print(
            f"{what}: {events:,} {unit} in {args.window_s:.1f} s; instructions {busy:,} with them, "
            f"{idle:,} idle for as long: {(busy - idle) / max(events, 1):,.0f} per {unit[:-1]} beyond idle"
        )


if __name__ == "__main__":
    main()
