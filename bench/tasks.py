"""What task identity costs (issue 27): added latency with tasks on against off, in turns, and memory under
a million distinct tasks.

Both parts drive `routetax serve` over HTTP with nothing but its public configuration (`tasks.enabled`,
`tasks.max_entries`), so they measure whatever identity the tree they run in has — before it exists the
on/off comparison is an A/A run: the noise floor of the measurement itself.

1. **Added latency, in turns.** bench/fixed_upstream.py (which answers a request that declares tools with one
   tool call under a fresh call id), a real redis-server for the ledger, and two proxies (metering on, as
   deployed), `tasks.enabled: true` and `false`, both up at once. The traffic is task-shaped
   (bench/task_traffic.py): tool loops whose every request is the previous one's messages plus the answer
   plus a tool result (up to 28 messages), person-style conversations and single calls, so most requests are
   continuations and the identity lookup runs on every one. Direct (the same traffic straight to the upstream),
   tasks on and tasks off take turns at concurrency 1 and 10 in blocks of `--block` (100) requests, the rounds
   cycling through every order of the three (so on and off alternate, ABAB..., and neither always follows the
   other; each side's clients keep their tasks between blocks), `--requests` (2,000) a side per trial. Blocks
   of a fraction of a second put this machine's drift, which is minutes long, on every side alike: 2,000-request
   turns gave on - off p50 differences of ±2 ms at concurrency 10 with the two proxies running the same code.
   Each side's added p50/p99 is its percentile less direct's; the figure judged (target: within +0.1 ms) is
   on - off over all trials' latencies pooled, printed with the median and range of the per-trial differences,
   and with each proxy's CPU per request over its blocks (steadier than latency here). `--same-config` runs
   both proxies with tasks on: the noise floor of every on - off figure. `--cpu-control US` runs the tasks-on side
   with tasks off and US µs of busy CPU added to every request at intake: what that much CPU alone adds, whatever
   it is spent on (set US to the on - off CPU per request a run printed).
   Concurrency 1 sends each request when the previous answer is in; concurrency 10 is paced at `--rate` (800)
   requests a second over its clients, about half of what the proxy's one core serves: sent as fast as answers
   come, 10 clients keep that core 100 % busy, and a request's latency is then 10 requests' CPU whatever it is
   spent on (tasks on - off read +1.2 ms for +120 µs of CPU), a throughput figure that CPU per request states
   directly. Redis runs only when the rest core is otherwise idle (`idle_only`), where a deployment gives it a
   machine of its own: otherwise its batch scripts (0.7-1.6 ms of one core each) stall the upstream and the
   load generator and are counted as the proxy's latency. Its CPU per request is printed for each side.
2. **Memory under a million distinct tasks.** A fresh proxy with tasks on (`tasks.max_entries` as configured,
   default the product's 200,000) takes `--memory-tasks` (1,000,000) first requests, each opening a task of its
   own (a tool loop's opening, so every answer is one more continuation to remember), at concurrency 32; the
   proxy's RSS is sampled every `--sample-every` (100,000) tasks; flatness is judged from twice the bound, where the
   index's tables have reached their steady size (`FLAT_FROM`). Through HTTP rather than in process: identity
   has no public entry point smaller than the proxy yet, and HTTP also counts everything else a task leaves
   in the proxy (open task state, records waiting for the ledger). At this machine's 1-2.5k requests a second
   that is 7-12 minutes. The proxy's other bounded maps (cache affinity's 100,000 conversations, early-feedback
   ids) fill during the first ~200,000 requests whatever tasks does, so `--memory-tasks-off` runs the same with
   tasks off and the judgement (RSS within 5 % from twice the bound to the end) then counts only what
   tasks on adds beyond the control. `--quick`: 3 trials of 1,000 requests, 200,000 tasks past a bound of
   50,000 sampled every 25,000, with the control.

Pinning as in bench/perf.py: the proxies on core 0; the upstream, Redis and this load generator on core 1.

Run (≈ 10 minutes, ≈ 20 with `--memory-tasks-off`; `--quick` ≈ 7):
    .venv/bin/python bench/tasks.py [--quick] [--trials 6] [--requests 2000] [--same-config] [--cpu-control US]
    [--memory-tasks 1000000] [--max-entries N] [--memory-tasks-off] [--skip-latency] [--skip-memory]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from loadgen import HEADERS, percentile_ms  # noqa: E402
from perf import REST_CORE, cpu_ms, free_port, memory_kb, start_routetax, start_upstream_and_redis, stop  # noqa: E402
from task_traffic import TaskWalk, distinct_first_requests  # noqa: E402

TASK_HEADER = "x-routetax-task"
TARGET_MS = 0.1  # issue 27: tasks on may add at most this much to the added p50 and p99
FLAT_GROWTH = 0.05  # "flat": RSS at the end within 5 % of RSS once the index is in its steady state
# The index's tables reach their steady size only after their first sweeps past the bound: a dict resizes for the
# entries it holds plus the slots its evictions freed, so between the bound and twice the bound the three tables'
# storage still grows (in process, bound 50,000: +7.5 MB from 60,000 to 200,000 filed answers, then none).
# Flatness is judged from the first sample at FLAT_FROM times the bound; the growth from the bound is printed too.
FLAT_FROM = 2
SIDES = ("direct", "tasks-on", "tasks-off")
ORDERS = list(itertools.permutations(SIDES))
# The proxy runs this tree's code with this interpreter (a worktree has no .venv of its own).
LAUNCHER = [
    sys.executable,
    "-c",
    f"import sys; sys.path.insert(0, {str(ROOT)!r}); from cli import main; sys.exit(main())",
]


def cpu_control_launcher(us: float) -> list[str]:
    """The proxy with `us` microseconds of busy CPU added to every request at intake (`--cpu-control`): what that
    much CPU alone does to the figures, whatever it is spent on."""
    code = (
        f"import sys, time; sys.path.insert(0, {str(ROOT)!r})\n"
        "from router.serving.intake import Intake\n"
        "admit = Intake.admit\n"
        "async def spinning(self, *args, **kwargs):\n"
        f"    end = time.thread_time() + {us / 1e6!r}\n"
        "    while time.thread_time() < end:\n"
        "        pass\n"
        "    return await admit(self, *args, **kwargs)\n"
        "Intake.admit = spinning\n"
        "from cli import main; sys.exit(main())"
    )
    return [sys.executable, "-c", code]


@dataclass
class TaskRun:
    """One turn of task-shaped traffic: latencies (s) of every request and of continuations alone, and what
    the answers said about identity (the task header, when the proxy sets it)."""

    latencies: list[float] = field(default_factory=list)
    continuation_latencies: list[float] = field(default_factory=list)
    errors: int = 0
    wall_s: float = 0.0
    cpu_ms: float = 0.0  # the proxy's CPU while this run's blocks were sent (0 for direct)
    redis_cpu_ms: float = 0.0  # Redis's CPU while this run's blocks were sent (its ledger and task writes)
    tasks: int = 0
    continuations: int = 0
    with_header: int = 0
    continuations_on_own_task: int = 0  # continuations answered with the id their task's first step got

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.wall_s if self.wall_s else 0.0


class TaskClients:
    """`concurrency` clients of one side, each running its tasks step after step (a step waits for the previous
    answer, which it echoes). They keep their tasks between blocks, so a side can be driven in short blocks
    that alternate with the other sides' and its tasks still continue where they were."""

    def __init__(
        self, url: str, concurrency: int, prefix: str, pid: int | None = None, rate: float = 0.0, redis_pid: int = 0
    ) -> None:
        self.url = url
        self.pid = pid  # the proxy's, whose CPU each block is charged
        self.redis_pid = redis_pid  # Redis's CPU during each block is charged to the side that sent it
        self.interval = concurrency / rate if rate else 0.0  # each client's pace (0: as fast as answers come)
        self.walks = [TaskWalk(f"{prefix}/{index}", f"{prefix}c{index}") for index in range(concurrency)]
        self.last: list[dict | None] = [None] * concurrency
        self.task_ids: list[str | None] = [None] * concurrency
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))

    async def close(self) -> None:
        await self.session.close()

    async def block(self, requests: int, run: TaskRun) -> None:
        """`requests` more requests, spread over the clients, into `run`."""
        count = len(self.walks)
        cpu_before, started = cpu_ms(self.pid) if self.pid else 0.0, time.perf_counter()
        redis_before = cpu_ms(self.redis_pid) if self.redis_pid else 0.0
        await asyncio.gather(*(self._client(i, requests // count + (i < requests % count), run) for i in range(count)))
        run.wall_s += time.perf_counter() - started
        run.cpu_ms += cpu_ms(self.pid) - cpu_before if self.pid else 0.0
        run.redis_cpu_ms += cpu_ms(self.redis_pid) - redis_before if self.redis_pid else 0.0

    async def _client(self, index: int, requests: int, run: TaskRun) -> None:
        walk = self.walks[index]
        # Paced clients start spread over one interval, so a block's requests do not arrive in bursts of `count`.
        due = time.perf_counter() + self.interval * index / len(self.walks)
        for _ in range(requests):
            if self.interval:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                due = max(due + self.interval, time.perf_counter())  # late: the next one is not sent early
            tasks_before, continuations_before = walk.tasks, walk.continuations
            body = orjson.dumps(walk.next_body(self.last[index]))
            first = walk.tasks != tasks_before
            run.tasks += first
            run.continuations += walk.continuations - continuations_before
            since = time.perf_counter()
            try:
                async with self.session.post(self.url, data=body, headers=HEADERS) as response:
                    raw = await response.read()
                    ok = response.status == 200
                    header = response.headers.get(TASK_HEADER)
            except aiohttp.ClientError:
                ok, header = False, None
            elapsed = time.perf_counter() - since
            if not ok:
                run.errors += 1
                self.last[index] = None
                continue
            run.latencies.append(elapsed)
            self.last[index] = orjson.loads(raw)
            run.with_header += header is not None
            if first:
                self.task_ids[index] = header
            else:
                run.continuation_latencies.append(elapsed)
                run.continuations_on_own_task += header is not None and header == self.task_ids[index]


async def interleaved(
    urls: dict[str, str],
    concurrency: int,
    requests: int,
    block: int,
    prefix: str,
    pids: dict[str, int],
    rate: float = 0.0,
    redis_pid: int = 0,
) -> dict[str, TaskRun]:
    """Every side `requests` requests, in blocks of `block` that take turns: the sides share every minute of this
    machine's drift instead of each having minutes of its own. The rounds cycle through every order of the
    sides, so each runs first, between and last, and after each other side, equally often (with a fixed
    order of three, the middle one always follows a block of another proxy and the others sometimes their own)."""
    clients = {
        side: TaskClients(url, concurrency, f"{prefix}{side}", pids.get(side), rate, redis_pid)
        for side, url in urls.items()
    }
    runs = {side: TaskRun() for side in urls}
    try:
        done, round_ = 0, 0
        while done < requests:
            size = min(block, requests - done)
            for side in ORDERS[round_ % len(ORDERS)]:
                await clients[side].block(size, runs[side])
            done += size
            round_ += 1
    finally:
        for client in clients.values():
            await client.close()
    return runs


def figures(run: TaskRun) -> dict:
    return {
        "p50_ms": percentile_ms(run.latencies, 50),
        "p99_ms": percentile_ms(run.latencies, 99),
        "continuation_p50_ms": percentile_ms(run.continuation_latencies, 50),
        "rps": run.rps,
        "cpu_ms": run.cpu_ms,
        "redis_cpu_ms": run.redis_cpu_ms,
        "requests": len(run.latencies),
        "errors": run.errors,
        "tasks": run.tasks,
        "continuations": run.continuations,
        "with_task_header": run.with_header,
        "continuations_on_own_task": run.continuations_on_own_task,
    }


def latency_turns(
    urls: dict[str, str],
    pids: dict[str, int],
    args: argparse.Namespace,
    concurrencies: tuple[int, ...],
    redis_pid: int,
) -> dict:
    """Per trial and concurrency, direct, tasks on and tasks off in interleaved blocks: one pair of added
    figures and their difference. The latencies of all trials are also pooled per side for one percentile each.
    Concurrency above 1 is paced at `args.rate` requests a second (0: as fast as answers come)."""
    trials, requests, block = args.trials, args.requests, args.block
    pairs = []
    pooled: dict[int, dict[str, list[float]]] = {c: {side: [] for side in SIDES} for c in concurrencies}
    for trial in range(trials):
        for concurrency in concurrencies:
            rate = args.rate if concurrency > 1 else 0.0
            prefix = f"t{trial}c{concurrency}"
            runs = asyncio.run(interleaved(urls, concurrency, requests, block, prefix, pids, rate, redis_pid))
            pair: dict = {"trial": trial, "concurrency": concurrency}
            for side, run in runs.items():
                pair[side] = figures(run)
                pooled[concurrency][side] += run.latencies
            for side in ("tasks-on", "tasks-off"):
                for p in ("p50", "p99"):
                    pair[side][f"added_{p}_ms"] = pair[side][f"{p}_ms"] - pair["direct"][f"{p}_ms"]
            for p in ("p50", "p99"):
                pair[f"on_minus_off_{p}_ms"] = pair["tasks-on"][f"{p}_ms"] - pair["tasks-off"][f"{p}_ms"]
            pairs.append(pair)
            on, off = pair["tasks-on"], pair["tasks-off"]
            print(
                f"  trial {trial} c={concurrency:<2} added p50 / p99: on {on['added_p50_ms']:.3f} / "
                f"{on['added_p99_ms']:.2f}  off {off['added_p50_ms']:.3f} / {off['added_p99_ms']:.2f} ms"
                f"  on-off {pair['on_minus_off_p50_ms']:+.3f} / {pair['on_minus_off_p99_ms']:+.2f} ms"
                f"  ({on['requests']} req, {on['tasks']} tasks, {on['continuations']} continuations,"
                f" errors {on['errors'] + off['errors'] + pair['direct']['errors']})",
                flush=True,
            )
    summary = summarise(pairs, concurrencies)
    for concurrency, sides in pooled.items():
        row = summary[concurrency]
        for p in (50, 99):
            base = percentile_ms(sides["direct"], p) or 0.0
            for side in ("tasks-on", "tasks-off"):
                row[f"pooled_{side}_added_p{p}_ms"] = (percentile_ms(sides[side], p) or 0.0) - base
            row[f"pooled_on_minus_off_p{p}_ms"] = (
                row[f"pooled_tasks-on_added_p{p}_ms"] - row[f"pooled_tasks-off_added_p{p}_ms"]
            )
    return {"pairs": pairs, "summary": summary}


def summarise(pairs: list[dict], concurrencies: tuple[int, ...]) -> dict:
    summary: dict = {}
    for concurrency in concurrencies:
        mine = [p for p in pairs if p["concurrency"] == concurrency]
        row: dict = {}
        for p in ("p50", "p99"):
            for side in ("tasks-on", "tasks-off"):
                row[f"{side}_added_{p}_ms"] = statistics.median(x[side][f"added_{p}_ms"] for x in mine)
            diffs = [x[f"on_minus_off_{p}_ms"] for x in mine]
            row[f"on_minus_off_{p}_ms"] = statistics.median(diffs)
            row[f"on_minus_off_{p}_ms_range"] = (min(diffs), max(diffs))
        on = [x["tasks-on"] for x in mine]
        row["share_continuations"] = sum(r["continuations"] for r in on) / max(1, sum(r["requests"] for r in on))
        row["tasks_on_header_share"] = sum(r["with_task_header"] for r in on) / max(1, sum(r["requests"] for r in on))
        row["tasks_on_continuations_on_own_task"] = sum(r["continuations_on_own_task"] for r in on) / max(
            1, sum(r["continuations"] for r in on)
        )
        row["rps_on"] = statistics.median(r["rps"] for r in on)
        for side in ("tasks-on", "tasks-off"):  # CPU is far less noisy than latency on a shared machine
            runs = [x[side] for x in mine]
            sent = max(1, sum(r["requests"] for r in runs))
            row[f"{side}_cpu_us_per_request"] = 1000 * sum(r["cpu_ms"] for r in runs) / sent
            row[f"{side}_redis_cpu_us_per_request"] = 1000 * sum(r["redis_cpu_ms"] for r in runs) / sent
        row["on_minus_off_cpu_us_per_request"] = (
            row["tasks-on_cpu_us_per_request"] - row["tasks-off_cpu_us_per_request"]
        )
        summary[concurrency] = row
    return summary


async def distinct_tasks(url: str, count: int, start: int, concurrency: int, prefix: str) -> int:
    """`count` first requests, each a task of its own; the number that failed."""
    bodies = distinct_first_requests(prefix, start)
    remaining, errors = count, 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                try:
                    async with session.post(url, data=orjson.dumps(next(bodies)), headers=HEADERS) as response:
                        await response.read()
                        errors += response.status != 200
                except aiohttp.ClientError:
                    errors += 1

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return errors


def memory_run(url: str, pid: int, total: int, every: int, concurrency: int) -> list[dict]:
    """RSS of the proxy (its process tree) after every `every` distinct tasks, `total` in all."""
    samples = [{"tasks": 0, "rss_mb": memory_kb(pid, "VmRSS") / 1024, "errors": 0, "rate": None}]
    print(f"  {0:>9,} tasks  RSS {samples[0]['rss_mb']:6.1f} MB", flush=True)
    done = 0
    while done < total:
        chunk = min(every, total - done)
        started = time.perf_counter()
        errors = asyncio.run(distinct_tasks(url, chunk, done, concurrency, "mem"))
        rate = chunk / (time.perf_counter() - started)
        done += chunk
        sample = {"tasks": done, "rss_mb": memory_kb(pid, "VmRSS") / 1024, "errors": errors, "rate": rate}
        samples.append(sample)
        print(f"  {done:>9,} tasks  RSS {sample['rss_mb']:6.1f} MB  ({rate:,.0f} tasks/s, errors {errors})", flush=True)
    return samples


def flatness(samples: list[dict], bound: int) -> dict | None:
    """RSS growth from the first sample at or past `FLAT_FROM` times the index's bound to the last (None: the run
    did not get there)."""
    at_bound = next((s for s in samples if s["tasks"] >= FLAT_FROM * bound), None)
    if at_bound is None or at_bound is samples[-1]:
        return None
    growth = samples[-1]["rss_mb"] / at_bound["rss_mb"] - 1
    return {
        "from_tasks": at_bound["tasks"],
        "from_mb": at_bound["rss_mb"],
        "to_mb": samples[-1]["rss_mb"],
        "growth": growth,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=6, help="turns of direct / tasks on / tasks off")
    ap.add_argument("--requests", type=int, default=2000, help="requests per side per turn")
    ap.add_argument("--block", type=int, default=100, help="requests per side before the next side's turn")
    ap.add_argument("--concurrency", default="1,10", help="comma-separated concurrencies for the turns")
    ap.add_argument(
        "--rate",
        type=float,
        default=800.0,
        help="requests a second, over the clients, at concurrency above 1 (0: as fast as answers come)",
    )
    ap.add_argument("--memory-tasks", type=int, default=1_000_000, help="distinct tasks for the memory part")
    ap.add_argument("--sample-every", type=int, default=100_000)
    ap.add_argument("--max-entries", type=int, default=None, help="tasks.max_entries (default: the product's)")
    ap.add_argument("--memory-concurrency", type=int, default=32)
    ap.add_argument(
        "--memory-tasks-off",
        action="store_true",
        help="also run the memory part with tasks off: the control judged against",
    )
    ap.add_argument(
        "--same-config",
        action="store_true",
        help="A/A: both proxies with tasks on (the noise floor of the on - off figures, with identity present)",
    )
    ap.add_argument(
        "--cpu-control",
        type=float,
        default=0.0,
        metavar="US",
        help="control: run the tasks-on side with tasks off and US µs of busy CPU added per request (what CPU alone "
        "adds to the figures)",
    )
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument(
        "--quick", action="store_true", help="3 trials of 1,000; 200,000 tasks past a bound of 50,000, with the control"
    )
    ap.add_argument("--output", type=Path, default=HERE / "results/tasks.json")
    args = ap.parse_args()
    if args.quick:
        args.trials, args.requests, args.memory_tasks = 3, 1000, 200_000
        args.sample_every, args.max_entries, args.memory_tasks_off = 25_000, args.max_entries or 50_000, True
    from router.config import Tasks

    bound = args.max_entries or Tasks().max_entries
    concurrencies = tuple(int(c) for c in args.concurrency.split(","))
    os.sched_setaffinity(0, {int(REST_CORE)})
    started, load_before = time.time(), os.getloadavg()
    result: dict = {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "load_average_before": load_before,
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    with tempfile.TemporaryDirectory(prefix="routetax-tasks-") as directory:
        tmp = Path(directory)
        background: list[subprocess.Popen | None] = []
        try:
            upstream, redis_url = start_upstream_and_redis(background)
            redis_pid = next(p.pid for p in background if p is not None and "redis-server" in str(p.args))
            idle_only(redis_pid)
            if not args.skip_latency:
                result["latency"] = latency_part(upstream, redis_url, tmp, args, concurrencies, redis_pid)
            if not args.skip_memory:
                sides = ("tasks-on", "tasks-off") if args.memory_tasks_off else ("tasks-on",)
                result["memory"] = {side: memory_part(side, upstream, redis_url, tmp, args, bound) for side in sides}
        finally:
            for proc in background:
                stop(proc)
    result["load_average_after"] = os.getloadavg()
    result["minutes"] = round((time.time() - started) / 60, 1)
    report(result, bound)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1))
    print(f"written: {args.output}")
    return 0


def idle_only(pid: int) -> None:
    """Run `pid` (every thread) only when its core has nothing else to run (SCHED_IDLE).

    A deployed Redis has a machine of its own; here it shares the load generator's and the upstream's core,
    and its ledger scripts (0.7-1.6 ms each, more with tasks: a task's state is merged in them) stalled those
    two and were counted as the proxy's latency: removing the task merge from the script took 0.36-0.42 ms
    off tasks on's p99 with the proxy's CPU unchanged (A/B, 10,000 requests a side). Lowest niceness did not
    stop it on this kernel; SCHED_IDLE does (the same A/B: -0.08 ms, noise). Redis keeps up (the core idles
    between requests) and its CPU per request is printed for each side, not hidden."""
    for thread in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setscheduler(int(thread.name), os.SCHED_IDLE, os.sched_param(0))


def _growth_from(memory: dict, bound: int) -> str:
    """RSS growth from the first sample at the bound to the end, tasks on and the control: said, not judged."""
    parts = []
    for side, run in memory.items():
        first = next((s for s in run["samples"] if s["tasks"] >= bound), None)
        if first is not None:
            parts.append(f"{side} {first['rss_mb']:.0f} -> {run['samples'][-1]['rss_mb']:.0f} MB")
    return ", ".join(parts)


def proxy_sections(enabled: bool, max_entries: int | None) -> dict[str, dict]:
    tasks: dict = {"enabled": enabled}
    if max_entries is not None:
        tasks["max_entries"] = max_entries
    return {"tasks": tasks}


def latency_part(
    upstream: str, redis_url: str, tmp: Path, args: argparse.Namespace, concurrencies: tuple, redis_pid: int
) -> dict:
    print("added latency, direct / tasks on / tasks off in turns:", flush=True)
    if args.cpu_control:
        print(
            f"  control: the 'tasks-on' proxy is tasks off plus {args.cpu_control:.0f} µs of CPU per request",
            flush=True,
        )
    ports = {"tasks-on": free_port(), "tasks-off": free_port()}
    proxies = {
        side: start_routetax(
            upstream,
            redis_url,
            True,
            ports[side],
            tmp,
            cpu_control_launcher(args.cpu_control) if args.cpu_control and side == "tasks-on" else LAUNCHER,
            sections=proxy_sections(
                (side == "tasks-on" and not args.cpu_control) or args.same_config, args.max_entries
            ),
        )
        for side in ports
    }
    try:
        urls = {side: f"http://127.0.0.1:{port}/v1/chat/completions" for side, port in ports.items()}
        urls["direct"] = f"{upstream}/v1/chat/completions"
        pids = {side: proc.pid for side, proc in proxies.items()}
        asyncio.run(interleaved(urls, 10, 1000, 250, "warm", pids))  # the same shape of traffic, tags of its own
        return latency_turns(urls, pids, args, concurrencies, redis_pid)
    finally:
        for proc in proxies.values():
            stop(proc)


def memory_part(side: str, upstream: str, redis_url: str, tmp: Path, args: argparse.Namespace, bound: int) -> dict:
    print(f"memory, {args.memory_tasks:,} distinct tasks, {side} (tasks.max_entries {bound:,}):", flush=True)
    port = free_port()
    sections = proxy_sections(side == "tasks-on", args.max_entries)
    proxy = start_routetax(upstream, redis_url, True, port, tmp, LAUNCHER, sections=sections)
    try:
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        asyncio.run(distinct_tasks(url, 2000, 0, 10, "warm"))
        samples = memory_run(url, proxy.pid, args.memory_tasks, args.sample_every, args.memory_concurrency)
    finally:
        stop(proxy)
    return {"samples": samples, "flat": flatness(samples, bound)}


def report(result: dict, bound: int) -> None:
    print()
    latency = result.get("latency")
    if latency:
        for concurrency, row in latency["summary"].items():
            print(
                f"c={concurrency} ({row['rps_on']:.0f} req/s tasks on, {row['share_continuations']:.0%} continuations):"
            )
            for p, digits in (("p50", 3), ("p99", 2)):
                low, high = row[f"on_minus_off_{p}_ms_range"]
                print(
                    f"  added {p}: all trials pooled: on {row[f'pooled_tasks-on_added_{p}_ms']:.{digits}f} ms, off"
                    f" {row[f'pooled_tasks-off_added_{p}_ms']:.{digits}f} ms, on - off"
                    f" {row[f'pooled_on_minus_off_{p}_ms']:+.{digits}f} ms; median of trials: on"
                    f" {row[f'tasks-on_added_{p}_ms']:.{digits}f}, off {row[f'tasks-off_added_{p}_ms']:.{digits}f},"
                    f" on - off {row[f'on_minus_off_{p}_ms']:+.{digits}f} ms"
                    f" (trials {low:+.{digits}f} .. {high:+.{digits}f})"
                )
            print(
                f"  proxy CPU per request: on {row['tasks-on_cpu_us_per_request']:.0f} µs, off"
                f" {row['tasks-off_cpu_us_per_request']:.0f} µs,"
                f" on - off {row['on_minus_off_cpu_us_per_request']:+.0f} µs"
            )
            print(
                f"  Redis CPU per request (its ledger and task writes): on"
                f" {row['tasks-on_redis_cpu_us_per_request']:.0f} µs,"
                f" off {row['tasks-off_redis_cpu_us_per_request']:.0f} µs"
            )
            print(
                f"  tasks on: {row['tasks_on_header_share']:.0%} of answers carried {TASK_HEADER},"
                f" {row['tasks_on_continuations_on_own_task']:.0%} of continuations their first step's task id"
            )
        for concurrency, row in latency["summary"].items():
            for p in ("p50", "p99"):
                diff = row[f"pooled_on_minus_off_{p}_ms"]
                verdict = "PASS" if diff <= TARGET_MS else "MISS"
                print(
                    f"{verdict}  tasks on adds <= +{TARGET_MS} ms to the added {p} at c={concurrency}"
                    f" (all trials pooled): {diff:+.3f} ms"
                )
    memory = result.get("memory") or {}
    for side, run in memory.items():
        line = "  ".join(f"{s['tasks'] // 1000}k:{s['rss_mb']:.0f}" for s in run["samples"])
        print(f"memory, {side} (tasks passed: RSS MB): {line}")
    flat = memory["tasks-on"]["flat"] if "tasks-on" in memory else None
    control = memory["tasks-off"]["flat"] if "tasks-off" in memory else None
    if memory and flat is None:
        print(f"NOT RUN  RSS flat from {FLAT_FROM} x the index's bound ({bound:,}): the run did not get there")
    elif flat is not None:
        # The proxy's other bounded maps (cache affinity's conversations, early-feedback ids) fill during the
        # first ~200,000 requests whatever tasks does: with the control, only what tasks on adds is judged.
        growth = flat["growth"]
        said = f"{flat['from_mb']:.0f} MB at {flat['from_tasks']:,} tasks -> {flat['to_mb']:.0f} MB"
        if control is not None:
            net = (flat["to_mb"] - flat["from_mb"]) - (control["to_mb"] - control["from_mb"])
            growth = net / flat["from_mb"]
            said += f", less the tasks-off control's {control['to_mb'] - control['from_mb']:+.0f} MB: {net:+.1f} MB"
        verdict = "PASS" if growth <= FLAT_GROWTH else "MISS"
        print(
            f"{verdict}  RSS flat (<= {FLAT_GROWTH:.0%}) from {FLAT_FROM} x the index's bound ({bound:,}):"
            f" {said} ({growth:+.1%})"
        )
        print(f"  (from the bound itself: {_growth_from(memory, bound)})")
    print(
        f"load average before / after: {result['load_average_before'][0]:.2f} / {result['load_average_after'][0]:.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
