"""Find what stalls the proxy's event loop: sample the loop's stack only while it is late.

A tail latency (p99) far above the median on a proxy that is mostly idle-waiting on sockets means
something runs on the event loop for milliseconds at a time. Sampling profilers average that away;
this tool only looks while the loop is late. A heartbeat task on the loop ticks every millisecond;
a 1 ms interval timer (SIGALRM, handled on the loop's thread) checks it and, whenever the loop has
not ticked for `--stall-ms`, records the stack the loop is in. At the end it prints the stalls'
count and lengths, the garbage collector's pauses, and the stacks seen during stalls, heaviest first.

Run (proxy pinned to core 0, load from this process on core 1):
  .venv/bin/python bench/loop_stalls.py [--redis] [--requests 5000] [--concurrency 10 | --rate 1500] [--metering-off]
  .venv/bin/python bench/loop_stalls.py --redis --tasks on|off [--concurrency 10 --rate 800]

`--tasks` drives bench/tasks.py's task-shaped traffic (tool loops, conversations, single calls, each step
echoing the previous answer) with `tasks.enabled` as given, instead of one fixed body: what stalls the loop
only when the proxy follows tasks shows in the difference of an `on` and an `off` run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROJECT = f"{HERE.parent}/"  # a stalled sample is put on the innermost frame of the project's own code
NOT_OURS = (f"{HERE}/", f"{HERE.parent}/.venv/")
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from loadgen import closed_loop, open_loop, percentile_ms  # noqa: E402
from perf import cpu_ms, free_port, payload, wait_port  # noqa: E402


class Watchdog:
    """Samples the loop thread's stack whenever its heartbeat is older than `stall_s`."""

    def __init__(self, stall_s: float) -> None:
        self.stall_s = stall_s
        self.beat = time.perf_counter()
        self.stacks: Counter[str] = Counter()
        self.places: Counter[str] = Counter()  # the innermost project function of each stalled sample
        self.evaluations: list[tuple[float, int]] = []  # (seconds, records in the window) of each evaluation
        self.stalls: list[float] = []
        self.gc_pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._gc_start = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc_pauses[info["generation"]].append(time.perf_counter() - self._gc_start)

    def time_evaluations(self) -> None:
        """Time every evaluation of the routing tax's window (router/auto_mode.py): it runs on the loop every
        few seconds, a pause for every request in flight then."""
        from router.auto_mode import AutoMode

        evaluate = AutoMode.evaluate

        def timed(auto: AutoMode) -> dict:
            started = time.perf_counter()
            try:
                return evaluate(auto)
            finally:
                self.evaluations.append((time.perf_counter() - started, len(auto._window)))

        AutoMode.evaluate = timed  # type: ignore[method-assign]

    def reset(self) -> None:
        """Forget what was seen so far (the start-up's and the warm-up's stalls)."""
        self.stacks.clear()
        self.places.clear()
        self.evaluations.clear()
        self.stalls.clear()
        for pauses in self.gc_pauses.values():
            pauses.clear()

    async def heartbeat(self) -> None:
        while True:
            self.beat = time.perf_counter()
            await asyncio.sleep(0.001)

    def start(self) -> None:
        """A 1 ms interval timer whose handler runs on the loop's own thread, between two bytecodes of
        whatever is running: the stack it sees is exactly where the loop is busy (a sampling thread
        would only get the GIL where the loop releases it, and mostly saw syscalls)."""
        self._in_stall: float | None = None
        signal.signal(signal.SIGALRM, self._tick)
        signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)

    def _tick(self, _signum: int, frame: Any) -> None:
        late = time.perf_counter() - self.beat
        if late < self.stall_s:
            if self._in_stall is not None:
                self.stalls.append(self._in_stall)
                self._in_stall = None
            return
        self._in_stall = late
        lines, place = [], None
        while frame is not None and (len(lines) < 14 or place is None):  # the frames: no source read in a handler
            code = frame.f_code
            if len(lines) < 14:
                lines.append(f"{Path(code.co_filename).name}:{frame.f_lineno} {code.co_name}")
            if place is None and code.co_filename.startswith(PROJECT) and not code.co_filename.startswith(NOT_OURS):
                place = f"{code.co_filename[len(PROJECT) :]}:{code.co_name}"
            frame = frame.f_back
        self.places[place or "(outside the project)"] += 1
        if lines:
            self.stacks["\n    ".join(reversed(lines))] += 1

    def report(self) -> str:
        out = [f"stalls >= {self.stall_s * 1000:.0f} ms: {len(self.stalls)}"]
        if self.stalls:
            xs = sorted(self.stalls)
            out.append(f"  longest {xs[-1] * 1000:.1f} ms, median {xs[len(xs) // 2] * 1000:.1f} ms")
        for gen, pauses in self.gc_pauses.items():
            if pauses:
                out.append(
                    f"  gc gen{gen}: {len(pauses)} collections, longest {max(pauses) * 1000:.1f} ms, "
                    f"total {sum(pauses) * 1000:.0f} ms"
                )
        if self.evaluations:
            times = sorted(seconds for seconds, _ in self.evaluations)
            out.append(
                f"  routing-tax evaluations: {len(times)}, longest {times[-1] * 1000:.1f} ms, median "
                f"{times[len(times) // 2] * 1000:.1f} ms, window {self.evaluations[-1][1]} records"
            )
        total = sum(self.stacks.values()) or 1
        out.append("\nstalled samples by the innermost project function:")
        out += [f"  {n / total:5.1%}  {place}" for place, n in self.places.most_common(15)]
        for stack, n in self.stacks.most_common(12):
            out.append(f"\n{n / total:5.1%} of stalled samples:\n    {stack}")
        return "\n".join(out)


def serve(config_path: str, stall_ms: float) -> None:
    """The child: routetax serve with the watchdog; prints its report on SIGTERM."""
    import signal

    import uvicorn
    import uvloop

    from router.app import create_app
    from router.config import load_config

    app = create_app(load_config(config_path))
    dog = Watchdog(stall_ms / 1000)
    dog.time_evaluations()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=int(os.environ["PORT"]),
            log_level="warning",
            http="httptools",
            loop="none",
            access_log=False,
        )
    )

    async def main() -> None:
        dog.start()
        beat = asyncio.create_task(dog.heartbeat())
        await server.serve()
        beat.cancel()

    signal.signal(signal.SIGUSR1, lambda *_: print(dog.report(), flush=True))
    signal.signal(signal.SIGUSR2, lambda *_: dog.reset())
    uvloop.run(main())


async def task_traffic(url: str, concurrency: int, rate: float, requests: int, prefix: str) -> Any:
    """`requests` task-shaped requests from `concurrency` clients, each paced at its share of `rate` (0: as
    fast as answers come); `prefix` keeps one call's tasks apart from another's."""
    from tasks import TaskClients, TaskRun

    clients = TaskClients(url, concurrency, prefix, rate=rate)
    run = TaskRun()
    try:
        await clients.block(requests, run)
    finally:
        await clients.close()
    return run


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis", action="store_true", help="metering into a real redis-server (else in-process store)")
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--rate", type=float, help="open loop at this rate instead of closed loop")
    ap.add_argument("--metering-off", action="store_true", help="metering.enabled: false")
    ap.add_argument("--stall-ms", type=float, default=4.0)
    ap.add_argument("--tasks", choices=("on", "off"), help="task-shaped traffic, tasks.enabled as given")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.stall_ms)
        return 0
    import yaml

    from demo.world import demo_config

    os.sched_setaffinity(0, {1})
    procs = []
    with tempfile.TemporaryDirectory() as d:
        try:
            up = free_port()
            procs.append(
                subprocess.Popen(["taskset", "-c", "1", sys.executable, str(HERE / "fixed_upstream.py"), str(up)])
            )
            wait_port(up)
            cfg = demo_config(f"http://127.0.0.1:{up}").model_dump(mode="json")
            cfg["auth"]["mode"] = "open"
            cfg["metering"] = {"enabled": not args.metering_off}
            cfg["store"]["spool_dir"] = f"{d}/spool"
            if args.tasks:
                cfg["tasks"] = {"enabled": args.tasks == "on"}
            if args.redis:
                rport = free_port()
                procs.append(
                    subprocess.Popen(
                        [
                            "taskset",
                            "-c",
                            "1",
                            "redis-server",
                            "--port",
                            str(rport),
                            "--save",
                            "",
                            "--appendonly",
                            "no",
                        ],
                        stdout=subprocess.DEVNULL,
                    )
                )
                wait_port(rport)
                cfg["store"]["redis_url"] = f"redis://127.0.0.1:{rport}/0"
            Path(f"{d}/c.yaml").write_text(yaml.safe_dump(cfg))
            port = free_port()
            proxy = subprocess.Popen(
                [
                    "taskset",
                    "-c",
                    "0",
                    sys.executable,
                    __file__,
                    "--serve",
                    f"{d}/c.yaml",
                    "--stall-ms",
                    str(args.stall_ms),
                ],
                env={**os.environ, "PORT": str(port)},
            )
            procs.append(proxy)
            wait_port(port)
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            if args.tasks:
                asyncio.run(task_traffic(url, args.concurrency, args.rate or 0.0, 500, "warm"))
            else:
                asyncio.run(closed_loop(url, payload("small", False), args.concurrency, 500))
            proxy.send_signal(signal.SIGUSR2)  # only the measured requests' stalls are reported
            time.sleep(0.2)
            t0, cpu0 = time.perf_counter(), cpu_ms(proxy.pid)
            if args.tasks:
                run = asyncio.run(task_traffic(url, args.concurrency, args.rate or 0.0, args.requests, "run"))
            elif args.rate:
                run = asyncio.run(open_loop(url, payload("small", False), args.rate, args.requests))
            else:
                run = asyncio.run(closed_loop(url, payload("small", False), args.concurrency, args.requests))
            wall = time.perf_counter() - t0
            print(
                f"{args.requests / wall:.0f} rps, p50 {percentile_ms(run.latencies, 50):.2f} ms, "
                f"p99 {percentile_ms(run.latencies, 99):.2f} ms, "
                f"{(cpu_ms(proxy.pid) - cpu0) / args.requests:.3f} CPU ms/request, {run.errors} errors",
                flush=True,
            )
            proxy.send_signal(signal.SIGUSR1)  # print the report
            if args.redis:  # what the ledger costs Redis: its script's calls and microseconds per call
                stats = subprocess.run(
                    ["redis-cli", "-p", str(rport), "info", "commandstats"], capture_output=True, text=True
                )
                print("\n".join(line for line in stats.stdout.splitlines() if "evalsha" in line or "eval:" in line))
            time.sleep(1)
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
