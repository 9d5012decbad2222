"""CPU per request of each of metering's stages, measured inside a real proxy under load: where its price goes.

`bench/metering_split.py` turns parts off and watches throughput, which says how much each part costs in all
(its allocations, the collector's extra work) but moves by points between runs on this noisy machine. This
measures each stage's own CPU time on the thread that runs it (`time.thread_time_ns` around the function, the
probe's own cost measured and taken off), inside a `routetax serve` that answers real requests — the perf
harness's small JSON requests, closed loop — so the records, the caches and the heap are a real proxy's, and
the machine's other load does not count (thread CPU time, not wall-clock time).

What is probed, per request:
- on the request path, before the answer leaves: the record's construction, `expect` (the request's id kept for
  early feedback), `quote` (the cost header);
- the finished-request pipeline, once the answer is sent, stage by stage: usage, price, settle the key, cache
  loss, metrics, ledger submit, the access line on the loop, the policy's window, then the pipeline in all and
  `Relay.emit` in all (with OpenTelemetry off, its check only);
- off the request path: the ledger writer's per-record share (each record's JSON, its rollups, task step and
  arguments; the Redis client's packing of the script call), the access log's writer thread (its whole thread
  CPU, from /proc), and the collector's passes (`gc.callbacks`), the task book's sweeps;
- the proxy's whole CPU per request (/proc), for the metering-on proxy probed and, in turns with it, unprobed
  metering-on and metering-off proxies: the gap the stages are to explain.

For each probed function the longest single call (wall-clock) is kept too: a synchronous stretch that long holds
every request on the loop for as long (issue 27's tasks-on p99).

Run (≈ 2 minutes): .venv/bin/python bench/metering_stages.py [--requests 4000] [--turns 3] [--concurrency 10]
                                                            [--tasks on|off] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import collections.abc
import functools
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

OUT_ENV = "METERING_STAGES_OUT"
CAPTURE_ENV = "METERING_STAGES_CAPTURE"
_clock = time.thread_time_ns
# name -> [thread CPU ns, calls, longest call's thread CPU ns, calls of LONG_NS or more] (CPU, not wall-clock:
# another process taking the core mid-call is not the call's doing)
TOTALS: dict[str, list[int]] = {}
LONG_NS = 500_000  # a stretch of the loop this long holds every request arriving meanwhile by as much
# The stages in the order they run, with the row each is printed under (indented: inside the row above).
ROWS: tuple[tuple[str, str], ...] = (
    ("record", "request path: the record's construction (Record.__init__)"),
    ("expect", "request path: expect (ids kept for early feedback)"),
    ("quote", "request path: quote (the cost header)"),
    ("emit", "after the answer: Relay.emit in all"),
    ("pipeline", "  the pipeline in all"),
    ("usage", "    1 usage"),
    ("price", "    2 price"),
    ("settle", "    3 settle the key"),
    ("cache_loss", "    4 cache loss"),
    ("metrics", "    5 metrics"),
    ("metrics_batch", "    5 metrics, observed in batches (per record)"),
    ("submit", "    6 ledger submit (with the JSON and arguments, when made there)"),
    ("ledger_args", "      its script arguments (rollups, task step), at submit"),
    ("access", "    6 access line (on the loop)"),
    ("policy", "    7 policy's window"),
    ("writer_take", "ledger writer: taking a batch (with each JSON, when made there)"),
    ("writer_add", "ledger writer: script arguments (when made there)"),
    ("writer_pack", "ledger writer: the Redis client's packing"),
    ("access_thread", "access log writer thread (whole thread)"),
    ("gc", "garbage collector (all of it, loop thread)"),
    ("step_after_json", "loop steps: a JSON answer's after-send (filing, metering)"),
    ("step_ledger", "loop steps: the ledger writer"),
    ("step_shared", "loop steps: the shared task index's writer"),
    ("step_taskbook", "loop steps: the task book's sweeps"),
)


def probe(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, its thread CPU time and calls added to TOTALS[name], its longest call's kept."""
    cell = TOTALS.setdefault(name, [0, 0, 0, 0])

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        cpu = _clock()
        try:
            return fn(*args, **kwargs)
        finally:
            took = _clock() - cpu
            cell[0] += took
            cell[1] += 1
            if took > cell[2]:
                cell[2] = took
            if took >= LONG_NS:
                cell[3] += 1

    return wrapped


class TimedSteps(collections.abc.Coroutine):  # type: ignore[type-arg]
    """A coroutine whose every step (one `send` or `throw`: one callback of the loop, when it is a task's own
    coroutine or awaited by one) adds its thread CPU time to TOTALS[name] and keeps the longest: the stretches a
    background writer holds the loop for, which every request arriving meanwhile waits out."""

    def __init__(self, name: str, inner: Any) -> None:
        self.cell = TOTALS.setdefault(name, [0, 0, 0, 0])
        self.inner = inner

    def _timed(self, step: Callable[..., Any], *args: Any) -> Any:
        cpu = _clock()
        try:
            return step(*args)
        finally:
            took = _clock() - cpu
            self.cell[0] += took
            self.cell[1] += 1
            if took > self.cell[2]:
                self.cell[2] = took
            if took >= LONG_NS:
                self.cell[3] += 1

    def send(self, value: Any) -> Any:
        return self._timed(self.inner.send, value)

    def throw(self, *args: Any) -> Any:  # type: ignore[override]
        return self._timed(self.inner.throw, *args)

    def close(self) -> None:
        self.inner.close()

    def __await__(self) -> Any:
        return self

    def __iter__(self) -> Any:
        return self

    def __next__(self) -> Any:
        return self.send(None)


def steps(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` (a coroutine function) with its steps timed under `name` (`TimedSteps`)."""

    @functools.wraps(fn)
    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        return await TimedSteps(name, fn(*args, **kwargs))

    return wrapped


def probe_cost_ns(calls: int = 200_000) -> float:
    """Thread CPU ns one probe adds to what it measures (an empty function probed, per call)."""
    cell_name = "__calibration"
    fn = probe(cell_name, lambda: None)
    for _ in range(calls):
        fn()
    spent, count, *_ = TOTALS.pop(cell_name)
    return spent / count


def _thread_cpu_ns(native_id: int) -> int:
    """A thread's CPU time (user + system) from /proc, in ns."""
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def install() -> None:
    """In the proxy's process, before it starts: probe every stage (see the module's docstring)."""
    import redis.asyncio.connection as redis_connection

    import router.app
    from metering import ledger as ledger_module
    from metering import tasks as tasks_module
    from metering.logs import access
    from metering.metrics import Metrics
    from metering.pipeline import MeteringPipeline, RouterStages
    from metering.record import Record
    from router.serving import relay as relay_module
    from router.tasks.shared import SharedTasks

    Record.__init__ = probe("record", Record.__init__)  # type: ignore[method-assign]
    MeteringPipeline.expect = probe("expect", MeteringPipeline.expect)  # type: ignore[method-assign]
    MeteringPipeline.quote = probe("quote", MeteringPipeline.quote)  # type: ignore[method-assign]
    relay_module.Relay.emit = probe("emit", relay_module.Relay.emit)  # type: ignore[method-assign]
    MeteringPipeline.__call__ = probe("pipeline", MeteringPipeline.__call__)  # type: ignore[method-assign]
    MeteringPipeline._complete_usage = probe("usage", MeteringPipeline._complete_usage)  # type: ignore[method-assign]
    MeteringPipeline._price = probe("price", MeteringPipeline._price)  # type: ignore[method-assign]
    Metrics.observe = probe("metrics", Metrics.observe)  # type: ignore[method-assign]
    if hasattr(Metrics, "_observe"):  # observed in batches: the queueing above, the observing here
        Metrics._observe = probe("metrics_batch", Metrics._observe)  # type: ignore[method-assign]
    ledger_module.Ledger.submit = probe("submit", ledger_module.Ledger.submit)  # type: ignore[method-assign]
    ledger_module.Ledger._take = probe("writer_take", ledger_module.Ledger._take)  # type: ignore[method-assign]
    if hasattr(ledger_module.Ledger, "_add_record"):  # main before the arguments were made at submit
        ledger_module.Ledger._add_record = probe("writer_add", ledger_module.Ledger._add_record)  # type: ignore[attr-defined]
    if hasattr(ledger_module.Ledger, "_script_args"):
        ledger_module.Ledger._script_args = probe("ledger_args", ledger_module.Ledger._script_args)  # type: ignore[attr-defined]
    for cls in (redis_connection.AbstractConnection,):
        cls.pack_command = probe("writer_pack", cls.pack_command)  # type: ignore[method-assign]
    access.finished = probe("access", access.finished)
    ledger_module.Ledger._run = steps("step_ledger", ledger_module.Ledger._run)  # type: ignore[method-assign]
    tasks_module.TaskBook._run = steps("step_taskbook", tasks_module.TaskBook._run)  # type: ignore[method-assign]
    SharedTasks._write_loop = steps("step_shared", SharedTasks._write_loop)  # type: ignore[method-assign]
    relay_module.Relay._after_json = steps("step_after_json", relay_module.Relay._after_json)  # type: ignore[method-assign]
    build = router.app.create_app

    def probed_app(config: Any, metering: Any = None) -> Any:
        served = build(config, metering)
        pipeline = served.app.state.metering
        stages = pipeline.router_stages
        pipeline.router_stages = RouterStages(
            settle_key=probe("settle", stages.settle_key) if stages.settle_key else None,
            cache_loss=probe("cache_loss", stages.cache_loss) if stages.cache_loss else None,
            policy=probe("policy", stages.policy) if stages.policy else None,
            final_exchange=stages.final_exchange,
        )
        return served

    router.app.create_app = probed_app
    captured: list[Any] = []
    if os.environ.get(CAPTURE_ENV):  # `--capture`: real (record, completion) pairs, as the pipeline gets them
        metered = MeteringPipeline.__call__

        def capture(self: Any, record: Any, completion: Any) -> None:
            if len(captured) < 2000:  # as plain data, so that another version of the code can read it back
                body = completion.bodies[-1] if completion.bodies else None
                captured.append(
                    {
                        "record": record.to_dict(),
                        "request": completion.request,
                        "bodies": [None if b is None else b.decode() for b in completion.bodies],
                        "streamed": any(stream is not None for stream in completion.streams),
                        "answer": body is not None,
                    }
                )
            metered(self, record, completion)

        MeteringPipeline.__call__ = capture  # type: ignore[method-assign]

    gc_cell = TOTALS.setdefault("gc", [0, 0, 0, 0])
    gc_started = [0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if phase == "start":
            gc_started[0] = _clock()
        elif gc_started[0]:
            took = _clock() - gc_started[0]
            gc_cell[0] += took
            gc_cell[1] += 1
            gc_cell[2] = max(gc_cell[2], took)
            gc_cell[3] += took >= LONG_NS

    gc.callbacks.append(on_gc)
    cost = probe_cost_ns()
    baseline: dict[str, int] = {}

    def writer_thread_cpu() -> int:
        for thread in threading.enumerate():
            if thread.name == "routetax-log-writer" and thread.native_id is not None:
                return _thread_cpu_ns(thread.native_id)
        return 0

    def reset(*_: Any) -> None:
        for cell in TOTALS.values():
            cell[0] = cell[1] = cell[2] = cell[3] = 0
        baseline["access_thread"] = writer_thread_cpu()

    def dump(*_: Any) -> None:
        totals = {name: list(cell) for name, cell in TOTALS.items()}
        totals["access_thread"] = [writer_thread_cpu() - baseline.get("access_thread", 0), 1, 0, 0]
        if captured:
            import orjson

            lines = (orjson.dumps(pair, default=str) for pair in captured)
            Path(os.environ[CAPTURE_ENV]).write_bytes(b"\n".join(lines) + b"\n")
        Path(os.environ[OUT_ENV]).write_text(json.dumps({"probe_ns": cost, "totals": totals}))

    signal.signal(signal.SIGUSR1, reset)
    signal.signal(signal.SIGUSR2, dump)


def serve(argv: list[str], probed: bool) -> int:
    if probed:
        install()
    from cli import main

    return main(argv)


def _read(path: Path, proc: subprocess.Popen) -> dict[str, Any]:
    path.unlink(missing_ok=True)
    proc.send_signal(signal.SIGUSR2)
    deadline = time.monotonic() + 10
    while not path.exists() or not path.read_text():
        if time.monotonic() > deadline:
            raise RuntimeError("the probed proxy did not write its totals")
        time.sleep(0.05)
    time.sleep(0.05)
    return json.loads(path.read_text())


def table(data: dict[str, Any], requests: int) -> list[tuple[str, float, float, float, int]]:
    """(row, µs of CPU per request, calls per request, longest call ms, calls of LONG_NS or more), the probe's own
    cost taken off."""
    probe_us = data["probe_ns"] / 1000
    rows = []
    for name, title in ROWS:
        spent, calls, longest, long_calls = data["totals"].get(name, [0, 0, 0, 0])
        own = spent / 1000 - (
            probe_us * calls if name not in ("access_thread", "gc") and not name.startswith("step") else 0
        )
        rows.append((title, own / requests, calls / requests, longest / 1e6, long_calls))
    return rows


def main() -> int:
    from loadgen import closed_loop
    from perf import cpu_ms, free_port, payload, start_routetax, start_upstream_and_redis, stop

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=4000, help="per turn")
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--tasks", choices=("on", "off"), default="on", help="tasks.enabled in every proxy")
    ap.add_argument("--no-ab", action="store_true", help="only the probed proxy (no unprobed on/off turns)")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    ap.add_argument(
        "--capture",
        type=Path,
        help="write the first 2,000 records and answers metered here (JSON lines, for bench/metering_instructions.py)",
    )
    args = ap.parse_args()
    os.sched_setaffinity(0, {1})
    sections = {"tasks": {"enabled": args.tasks == "on"}}
    data = payload("small", False)
    with tempfile.TemporaryDirectory(prefix="routetax-stages-") as directory:
        tmp = Path(directory)
        out = tmp / "stages.json"
        background: list[subprocess.Popen | None] = []
        proxies: dict[str, subprocess.Popen] = {}
        try:
            upstream, redis_url = start_upstream_and_redis(background)
            os.environ[OUT_ENV] = str(out)
            if args.capture:
                os.environ[CAPTURE_ENV] = str(args.capture.resolve())
            launcher = [sys.executable, str(Path(__file__)), "--serve-probed"]
            proxies["probed"] = start_routetax(upstream, redis_url, True, free_port(), tmp, launcher, sections=sections)
            if not args.no_ab:
                plain = [sys.executable, str(Path(__file__)), "--serve"]  # this tree's code, whatever venv runs it
                proxies["on"] = start_routetax(upstream, redis_url, True, free_port(), tmp, plain, sections=sections)
                proxies["off"] = start_routetax(upstream, redis_url, False, free_port(), tmp, plain, sections=sections)
            urls = {name: f"http://127.0.0.1:{_port(proc)}/v1/chat/completions" for name, proc in proxies.items()}
            for url in urls.values():
                asyncio.run(closed_loop(url, data, args.concurrency, 1000))
            cpu: dict[str, list[float]] = {name: [] for name in proxies}
            proxies["probed"].send_signal(signal.SIGUSR1)
            time.sleep(0.2)
            total = 0
            names = list(proxies)
            for turn in range(args.turns):
                for name in names[turn % len(names) :] + names[: turn % len(names)]:
                    before = cpu_ms(proxies[name].pid)
                    run = asyncio.run(closed_loop(urls[name], data, args.concurrency, args.requests))
                    cpu[name].append((cpu_ms(proxies[name].pid) - before) * 1000 / max(1, len(run.latencies)))
                    if name == "probed":
                        total += len(run.latencies)
            time.sleep(0.3)  # the ledger's last batch and the access writer's last gather
            stages = _read(out, proxies["probed"])
        finally:
            for proc in [*proxies.values(), *background]:
                stop(proc)
    rows = table(stages, total)
    print(
        f"\nmetering's stages, µs of thread CPU per request ({total} small JSON requests at c={args.concurrency}, "
        f"tasks {args.tasks}; probe cost {stages['probe_ns']:.0f} ns a call, taken off)"
    )
    print(f"  {'stage':62s} {'µs/req':>8s} {'calls/req':>10s} {'longest ms (CPU)':>17s} {'>= 0.5 ms':>9s}")
    for title, us, calls, longest, long_calls in rows:
        print(f"  {title:62s} {us:8.2f} {calls:10.2f} {longest:17.3f} {long_calls:9d}")
    print("whole process CPU per request (/proc, median of turns):")
    for name, values in cpu.items():
        print(f"  {name:8s} {statistics.median(values):7.1f} µs   turns: {', '.join(f'{v:.0f}' for v in values)}")
    if args.json:
        args.json.write_text(json.dumps({"stages": rows, "cpu_us": cpu, "requests": total}, indent=1))
    return 0


def _port(proc: subprocess.Popen) -> int:
    """The port a proxy started by `perf.start_routetax` serves on (from its configuration file's name)."""
    config = next(arg for arg in proc.args if str(arg).endswith(".yaml"))
    return int(Path(config).stem.rsplit("-", 1)[1])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("--serve-probed", "--serve"):
        sys.exit(serve(sys.argv[2:], probed=sys.argv[1] == "--serve-probed"))
    sys.exit(main())
