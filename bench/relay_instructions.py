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

Run: .venv/bin/python bench/relay_instructions.py [--tree DIR] [--streams 5] [--window-s 20] [--raw]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from perf import PROXY_CORE, REST_CORE, free_port, pinned, start_routetax, wait_port  # noqa: E402
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", type=Path, default=HERE.parent, help="the source tree whose proxy is counted")
    ap.add_argument("--streams", type=int, default=5)
    ap.add_argument("--interval-ms", default="50-100")
    ap.add_argument("--window-s", type=float, default=20.0)
    ap.add_argument("--raw", action="store_true", help="count the raw relay floor instead of routetax")
    ap.add_argument("--keep", type=Path, help="copy callgrind's dumps here (for callgrind_annotate)")
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
        print(
            f"{what}: {events:,} events in {args.window_s:g} s; instructions {busy:,} with the streams, "
            f"{idle:,} idle for as long: {(busy - idle) / max(events, 1):,.0f} an event beyond idle"
        )


if __name__ == "__main__":
    main()
