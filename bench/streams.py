"""Concurrent slow streams (issue 22): how many open SSE streams a proxy holds, and what it adds to each event.

Real LLM traffic streams for seconds to minutes, so a gateway holds thousands of open streams and
relays tens of thousands of small events a second. This harness measures exactly that, in one run,
side by side: `direct` (the clients straight to the upstream: the baseline every *added* figure
subtracts), `routetax` (`routetax serve`, metering on, ledger in a real redis-server), the two floors
`bare` (bench/bare_relay.py: uvicorn + httptools on uvloop, one aiohttp session, `readany()` -> `send`,
nothing of routetax: the stack's floor) and `raw` (bench/raw_relay.py: asyncio protocols both sides,
bytes forwarded unparsed: the machine's floor), and `litellm` (the LiteLLM proxy, installed by
bench/perf.py's helper into bench/.litellm-venv). The floors run as one process on the proxy's core
whatever `--workers` says (`--no-floors`: skip them).

- Upstream: bench/stream_upstream.py — each stream sends a token-sized event every `--interval-ms`
  for `--duration-s`, each event stamped with its send time; restarted per step with that step's profile.
- Steps: N streams (default 100, 1,000, 5,000, 10,000) opened at `--ramp` per second; the file
  descriptor limit is raised to the hard limit for every process started here. A relayed stream needs two
  descriptors in the proxy (client and upstream side), so one proxy process holds at most
  (hard limit - reserve) / 2 streams: a step above that is run at that number, and says so.
- Per step and configuration: streams held without error (200, every event, `[DONE]`), time to first
  token p50/p99, each event's delay from the upstream's send time p50/p99, proxy CPU per 1,000 events
  relayed and its core's utilisation, RSS per open stream (peak RSS while the streams are open, less the
  RSS before the step, over the streams open at that moment), and what broke first.
- Slow readers (`--slow`): N streams whose clients read a tenth of what the upstream sends, with a 4 KB
  receive buffer; the proxy's RSS is sampled through the run to show it stays bounded (backpressure).
- Pinning as in bench/perf.py: the proxy under test alone on core 0; upstream, Redis and the clients on core 1.

Run: .venv/bin/python bench/streams.py [--steps 100,1000,5000,10000] [--interval-ms 20-50] [--no-litellm]
     [--workers 2] [--no-floors] [--before TREE --before-at 100,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uvloop

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from perf import (  # noqa: E402
    PROXY_CORE,
    REST_CORE,
    cpu_ms_of,
    ensure_litellm,
    free_port,
    memory_kb_of,
    pinned,
    process_tree,
    start_litellm,
    start_routetax,
    stop,
    wait_port,
)
from stream_clients import Tally, wave  # noqa: E402

from router.workers import raise_fd_limit  # noqa: E402

FD_RESERVE = 200  # descriptors a proxy process needs besides its streams (listener, Redis, logs, epoll, ...)
BUDGETS_MS = (10, 50, 250)
BROKEN: dict[str, bool] = {}


def percentile(values: object, p: float) -> float | None:
    ordered = sorted(values)  # type: ignore[call-overload]
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def body(profile_interval: str) -> bytes:
    del profile_interval  # the profile lives in the upstream; the request is the same for every step
    return json.dumps(
        {
            "model": "auto",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "Write a long story about a lighthouse keeper."}],
        }
    ).encode()


def rss_kb_of(pids: list[int]) -> int:
    return memory_kb_of(pids, "VmRSS")


def tcp_kernel_mb() -> float:
    """Memory the kernel holds in TCP buffers (/proc/net/sockstat `mem`, in pages)."""
    for line in Path("/proc/net/sockstat").read_text().splitlines():
        if line.startswith("TCP:"):
            parts = line.split()
            return int(parts[parts.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return 0.0


async def measure(
    name: str,
    port: int,
    pids: list[int],
    streams: int,
    args: argparse.Namespace,
    read_bytes_per_s: float | None = None,
) -> dict:
    """One wave of `streams` streams against `port`; the proxy processes `pids` are watched (none: direct)."""
    tally = Tally()
    rss_before = rss_kb_of(pids) if pids else 0
    cpu_before = cpu_ms_of(pids) if pids else 0.0
    samples: list[tuple[float, int, int, float]] = []  # (t, open streams, rss kB, kernel TCP MB)
    started = time.monotonic()
    duration = args.slow_duration_s if read_bytes_per_s else args.duration_s
    # a slow reader takes ten times the stream's length to read it
    timeout_s = float(duration.split("-")[-1]) * (12 if read_bytes_per_s else 1) + 60 + streams / args.ramp

    async def sample() -> None:
        while True:
            samples.append((time.monotonic() - started, tally.open, rss_kb_of(pids) if pids else 0, tcp_kernel_mb()))
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample())
    await wave(port, body(args.interval_ms), streams, args.ramp, timeout_s, tally, read_bytes_per_s)
    sampler.cancel()
    wall = time.monotonic() - started
    cpu = (cpu_ms_of(pids) - cpu_before) if pids else None
    peak = max(samples, key=lambda s: (s[1], s[2]))  # most streams open, then the highest RSS among those
    rss_peak = max(s[2] for s in samples)
    row = {
        "config": name,
        "streams": streams,
        "slow_readers": bool(read_bytes_per_s),
        "completed": tally.completed,
        "errors": tally.errors,
        "events": tally.events,
        "events_per_s": tally.events / wall,
        "max_open": max(s[1] for s in samples),
        "ttft_p50_ms": percentile(tally.ttfts, 50),
        "ttft_p99_ms": percentile(tally.ttfts, 99),
        "delay_p50_ms": percentile(tally.delays, 50),
        "delay_p99_ms": percentile(tally.delays, 99),
        "delay_max_ms": percentile(tally.delays, 100),
        "wall_s": wall,
        "cpu_ms_per_1k_events": cpu / tally.events * 1000 if cpu is not None and tally.events else None,
        "cpu_util": cpu / 1000 / wall if cpu is not None else None,
        "rss_before_mb": rss_before / 1024,
        "rss_peak_mb": rss_peak / 1024,
        "kb_per_open_stream": (peak[2] - rss_before) / peak[1] if pids and peak[1] else None,
        "rss_samples": [(round(t, 1), n, round(kb / 1024, 1), round(k, 1)) for t, n, kb, k in samples],
    }
    print(
        f"  {name:9} N={streams:<6} held {tally.completed:6}/{streams:<6} errors {tally.errors or '-'}"
        f"  ttft p50/p99 {fmt(row['ttft_p50_ms'])}/{fmt(row['ttft_p99_ms'])} ms"
        f"  delay p50/p99 {fmt(row['delay_p50_ms'])}/{fmt(row['delay_p99_ms'])} ms"
        f"  {row['events_per_s']:7.0f} ev/s  cpu {fmt(row['cpu_util'], 2)}"
        f"  {fmt(row['cpu_ms_per_1k_events'])} ms/1k ev  {fmt(row['kb_per_open_stream'], 1)} KB/stream"
        f"  rss {row['rss_before_mb']:.0f}->{row['rss_peak_mb']:.0f} MB",
        flush=True,
    )
    return row


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def start_upstream(interval_ms: str, duration_s: str, event_bytes: int = 4) -> tuple[subprocess.Popen, int]:
    port = free_port()
    argv = [sys.executable, str(HERE / "stream_upstream.py"), str(port), "--interval-ms", interval_ms]
    proc = pinned(REST_CORE, [*argv, "--duration-s", duration_s, "--event-bytes", str(event_bytes)])
    wait_port(port)
    return proc, port


def step_profile(args: argparse.Namespace, streams: int) -> str:
    """The event interval for a step: `--interval-ms`, unless `--scale-interval` keeps the step's total event
    rate at the 1,000-stream step's (a 2-core machine cannot generate and read 10,000 x 20-50 ms)."""
    if not args.scale_interval or streams <= 1000:
        return args.interval_ms
    low, _, high = args.interval_ms.partition("-")
    factor = streams / 1000
    return f"{float(low) * factor:g}-{float(high or low) * factor:g}"


FLOORS = ("bare", "raw")


def start_floor(config: str, up_port: int, port: int) -> subprocess.Popen:
    """One of the floor relays on the proxy's core, listening on `port`."""
    if config == "bare":
        argv = [sys.executable, str(HERE / "bare_relay.py"), str(port), f"http://127.0.0.1:{up_port}"]
    else:
        argv = [sys.executable, str(HERE / "raw_relay.py"), str(port), str(up_port)]
    proc = pinned(PROXY_CORE, argv)
    wait_port(port)
    return proc


def warm(port: int) -> None:
    """JSON requests and one-event streams, so neither proxy's first streams pay for its cold paths."""
    import urllib.request

    def one(index: int) -> None:
        body: dict = {"model": "auto", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}
        if index % 2:
            body.update(stream=True, stream_options={"include_usage": True})
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    # in parallel: a proxy that drops `max_tokens` gets full-length streams, which must not add up
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        list(pool.map(one, range(40)))


def added(rows: list[dict]) -> None:
    """Added figures: each configuration's percentile less direct's at the same step (and reader kind)."""
    direct = {(r["streams"], r["slow_readers"]): r for r in rows if r["config"] == "direct"}
    for row in rows:
        base = direct.get((row["streams"], row["slow_readers"]))
        for key in ("ttft_p50_ms", "ttft_p99_ms", "delay_p50_ms", "delay_p99_ms"):
            if base is not None and row[key] is not None and base[key] is not None:
                row["added_" + key] = row[key] - base[key]


def held(row: dict) -> bool:
    return row["completed"] >= 0.99 * row["streams"]


def breaks(row: dict) -> str:
    """What broke first in this step, if anything."""
    if row["errors"]:
        kinds = ", ".join(f"{k} x{v}" for k, v in sorted(row["errors"].items(), key=lambda kv: -kv[1]))
        return f"errors: {kinds}"
    if row["cpu_util"] is not None and row["cpu_util"] > 0.9:
        return f"CPU: the proxy's core {row['cpu_util']:.0%} busy"
    return "-"


def report(rows: list[dict], configs: list[str]) -> dict:
    added(rows)
    print(
        f"\n{'config':9} {'streams':>7} {'held':>7} {'ev/s':>7} {'+ttft50':>8} {'+ttft99':>8} {'+delay99':>9}"
        f" {'delay99':>8} {'cpu ms/1k ev':>12} {'core':>5} {'KB/stream':>9} {'rss MB':>7}  breaks first"
    )
    for r in rows:
        if r["slow_readers"]:
            continue
        print(
            f"{r['config']:9} {r['streams']:7} {r['completed']:7} {r['events_per_s']:7.0f}"
            f" {fmt(r.get('added_ttft_p50_ms'), 2):>8} {fmt(r.get('added_ttft_p99_ms'), 2):>8}"
            f" {fmt(r.get('added_delay_p99_ms'), 2):>9} {fmt(r['delay_p99_ms'], 2):>8}"
            f" {fmt(r['cpu_ms_per_1k_events'], 1):>12} {fmt(r['cpu_util'], 2):>5}"
            f" {fmt(r['kb_per_open_stream'], 1):>9} {r['rss_peak_mb']:7.0f}  {breaks(r)}"
        )
    capacity: dict[str, dict[int, int]] = {}
    for config in configs:
        if config == "direct":
            continue
        capacity[config] = {}
        for budget in BUDGETS_MS:
            good = [
                r["streams"]
                for r in rows
                if r["config"] == config
                and not r["slow_readers"]
                and held(r)
                and r.get("added_delay_p99_ms") is not None
                and r["added_delay_p99_ms"] <= budget
            ]
            capacity[config][budget] = max(good, default=0)
    print("\nmost streams held (>= 99% without error) at an added inter-event p99 within:")
    for config, by_budget in capacity.items():
        print(f"  {config:9} " + "  ".join(f"<= {b} ms: {n:6}" for b, n in by_budget.items()))
    slow = [r for r in rows if r["slow_readers"]]
    for r in slow:
        print(
            f"\nslow readers ({r['config']}, {r['streams']} streams reading a tenth of the upstream's rate): "
            f"proxy RSS over the run (s, open streams, MB, kernel TCP MB):"
        )
        step = max(1, len(r["rss_samples"]) // 12)
        print("  " + "  ".join(f"{t:.0f}s:{n}/{mb:.0f}/{k:.0f}" for t, n, mb, k in r["rss_samples"][::step]))
    return capacity


def judge(rows: list[dict], capacity: dict, cap: int) -> list[dict]:
    targets: list[dict] = []

    def target(text: str, ok: bool | None, figures: str) -> None:
        targets.append({"target": text, "pass": ok, "figures": figures})

    ours = {r["streams"]: r for r in rows if r["config"] == "routetax" and not r["slow_readers"]}
    top = max(ours, default=0)
    if top:
        r = ours[top]
        target(
            f"hold 10,000 concurrent streams in one process (run at {top:,}; fd cap {cap:,})",
            top >= 10_000 and held(r),
            f"{r['completed']:,} of {top:,} held",
        )
    for n, budget in ((1000, 10), (top, 50)):
        r = ours.get(n)
        if r is not None and r.get("added_delay_p99_ms") is not None:
            target(
                f"added inter-event p99 <= {budget} ms at {n:,} streams",
                r["added_delay_p99_ms"] <= budget and held(r),
                f"{r['added_delay_p99_ms']:.2f} ms ({r['completed']:,} held)",
            )
    raw = next((r for r in rows if r["config"] == "raw" and r["streams"] == 1000 and not r["slow_readers"]), None)
    r = ours.get(1000)
    if r is not None and r["cpu_ms_per_1k_events"] is not None:
        floor = raw["cpu_ms_per_1k_events"] if raw is not None else None
        target(
            "CPU per event <= 15 us at 1,000 streams, or within 20% of the raw relay's in the same run",
            r["cpu_ms_per_1k_events"] <= 15 or (floor is not None and r["cpu_ms_per_1k_events"] <= 1.2 * floor),
            f"{r['cpu_ms_per_1k_events']:.1f} us" + (f" (raw: {floor:.1f} us)" if floor is not None else ""),
        )
    per_stream = [r["kb_per_open_stream"] for r in ours.values() if r["kb_per_open_stream"] and r["streams"] >= 1000]
    if per_stream:
        target("RSS <= 50 KB per open stream", max(per_stream) <= 50, f"{max(per_stream):.1f} KB (worst step >= 1,000)")
    if "litellm" in capacity:
        for budget in BUDGETS_MS:
            theirs, mine = capacity["litellm"][budget], capacity["routetax"][budget]
            ratio = mine / theirs if theirs else None
            target(
                f">= 10x the streams LiteLLM holds at added p99 <= {budget} ms",
                None if ratio is None else ratio >= 10,
                f"{mine:,} vs {theirs:,}" + (f" = {ratio:.0f}x" if ratio else " (LiteLLM held no step)"),
            )
    print()
    for t in targets:
        mark = "NOT RUN" if t["pass"] is None else "PASS" if t["pass"] else "MISS"
        print(f"{mark:8} {t['target']}: {t['figures']}")
    return targets


async def run_step(
    rows: list[dict],
    streams: int,
    args: argparse.Namespace,
    redis_url: str,
    litellm: Path | None,
    tmp: Path,
    slow: bool = False,
) -> None:
    interval = step_profile(args, streams)
    event_bytes = 1000 if slow else 4
    duration = args.slow_duration_s if slow else args.duration_s
    upstream, up_port = start_upstream(interval, duration, event_bytes)
    rate = None
    if slow:  # a tenth of what the upstream sends: event + framing bytes at the profile's mean interval
        low, _, high = interval.partition("-")
        rate = 0.1 * (event_bytes + 260) / ((float(low) + float(high or low)) / 2000)
    print(
        f"step: {streams:,} streams, events every {interval} ms for {duration} s"
        + (f", slow readers at {rate / 1024:.1f} KB/s" if rate else ""),
        flush=True,
    )
    try:
        run_litellm = litellm is not None and streams <= args.litellm_max and not BROKEN.get("litellm")
        configs = ["direct", "routetax"] + ([] if args.no_floors else list(FLOORS))
        configs += ["litellm"] if run_litellm else []
        if args.before and streams in args.before_at and not slow:
            configs.insert(2, "before")
        if slow:  # the point is the proxy's memory; direct has none to show
            configs = ["routetax"]
        for config in configs:
            proc = None
            pids: list[int] = []
            port = up_port
            try:
                if config in ("routetax", "before"):
                    port = free_port()
                    serve_args = ("--workers", str(args.workers)) if args.workers > 1 and config == "routetax" else ()
                    core = PROXY_CORE if not serve_args else "0,1"
                    # this tree's code, whatever the venv's console script was installed from (a worktree)
                    launcher = ["env", f"PYTHONPATH={HERE.parent}", sys.executable, "-m", "cli"]
                    if config == "before":  # the same harness on another checkout's code (e.g. `git archive main`)
                        # the command's module: `cli` since it left `router/`, `router.cli` in older trees
                        module = "cli" if (args.before / "cli" / "__main__.py").is_file() else "router.cli"
                        launcher = ["env", f"PYTHONPATH={args.before}", sys.executable, "-m", module]
                    proc = start_routetax(
                        f"http://127.0.0.1:{up_port}",
                        redis_url,
                        True,
                        port,
                        tmp,
                        launcher,
                        core=core,
                        pool_size=10_000,
                        serve_args=serve_args,
                    )
                elif config in FLOORS:
                    port = free_port()
                    proc = start_floor(config, up_port, port)
                elif config == "litellm":
                    port = free_port()
                    assert litellm is not None
                    proc = start_litellm(litellm, f"http://127.0.0.1:{up_port}", port, tmp)
                if proc is not None:
                    if config != "raw":  # the raw pipe has no cold path to warm
                        warm(port)
                    time.sleep(1 if args.workers == 1 else 3)
                    pids = process_tree(proc.pid)
                row = await measure(config, port, pids, streams, args, rate)
                log = tmp / f"routetax-{port}.log"
                if row["errors"] and log.exists():  # what the proxy said while streams failed
                    lines = [line for line in log.read_text(errors="replace").splitlines() if "WARNING" not in line]
                    row["proxy_log_tail"] = lines[-8:]
                    print("    proxy log: " + "\n    proxy log: ".join(lines[-8:]), flush=True)
                row["interval_ms"], row["duration_s"] = interval, duration
                rows.append(row)
                if config == "litellm" and (not held(row) or (row["delay_p99_ms"] or 0) > 1000):
                    BROKEN["litellm"] = True  # far past any budget: larger steps would only take minutes each
                    print("  (litellm is not run at larger steps: it failed this one)", flush=True)
            finally:
                stop(proc)
    finally:
        stop(upstream)


async def main_async(args: argparse.Namespace) -> int:
    hard = raise_fd_limit()
    cap = (hard - FD_RESERVE) // 2
    os.sched_setaffinity(0, {int(REST_CORE)})
    litellm = None if args.no_litellm else ensure_litellm()
    steps = [int(s) for s in args.steps.split(",")]
    rows: list[dict] = []
    started = time.time()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="routetax-streams-") as directory:
        tmp = Path(directory)
        redis_port = free_port()
        redis = pinned(
            REST_CORE,
            ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        wait_port(redis_port)
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        try:
            for streams in steps:
                n = streams if args.workers > 1 else min(streams, cap)
                if n != streams:
                    print(
                        f"(step {streams:,} run at {n:,}: the fd hard limit {hard:,} allows {cap:,} relayed "
                        "streams per process)",
                        flush=True,
                    )
                await run_step(rows, n, args, redis_url, litellm, tmp)
            if args.slow:
                await run_step(rows, args.slow, args, redis_url, None, tmp, slow=True)
        finally:
            stop(redis)
    configs = ["direct", "routetax"] + (["before"] if args.before else []) + ([] if args.no_floors else list(FLOORS))
    configs += ["litellm"] if litellm else []
    capacity = report(rows, configs)
    targets = judge(rows, capacity, cap)
    result = {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "minutes": round((time.time() - started) / 60, 1),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "fd_hard_limit": hard,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "rows": rows,
        "capacity": capacity,
        "targets": targets,
    }
    print(f"\nload average before / after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1))
    print(f"written: {args.output}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", default="100,1000,5000,10000", help="concurrent streams per step")
    ap.add_argument("--interval-ms", default="20-50", help="gap between a stream's events (default 20-50)")
    ap.add_argument("--duration-s", default="20-30", help="stream length (default 20-30; the issue's profile: 10-60)")
    ap.add_argument(
        "--scale-interval",
        action="store_true",
        help="above 1,000 streams, stretch the interval so the total event rate stays at the 1,000-stream step's",
    )
    ap.add_argument("--ramp", type=float, default=1000.0, help="streams opened per second (default 1000)")
    ap.add_argument("--slow", type=int, default=0, help="then N slow-reader streams through routetax (0: none)")
    ap.add_argument("--slow-duration-s", default="6-8", help="stream length in the slow-reader run (default 6-8)")
    ap.add_argument("--workers", type=int, default=1, help="routetax serve --workers (default 1)")
    ap.add_argument("--no-litellm", action="store_true")
    ap.add_argument(
        "--before", type=Path, help="also run routetax from this source tree at step --before-at: before/after"
    )
    ap.add_argument(
        "--before-at",
        type=lambda text: [int(step) for step in text.split(",")],
        default=[1000],
        help="the steps --before runs at, comma-separated (default 1000)",
    )
    ap.add_argument("--no-floors", action="store_true", help="skip the bare and raw floor relays")
    ap.add_argument("--litellm-max", type=int, default=1000, help="largest step LiteLLM is run at (default 1000)")
    ap.add_argument("--output", type=Path, default=HERE / "results/streams.json")
    args = ap.parse_args()
    return uvloop.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
