"""`routetax serve --workers 1` against `--workers 2`, in turns, in one run: throughput and CPU per request.

Both proxies run at once (metering on, ledger in a real redis-server) in front of bench/fixed_upstream.py
and take turns at saturation (closed loop, small JSON, concurrency 64, alternating which goes first);
the figures are the medians of the turns. Nothing is pinned: a second worker is only useful if it may
use the second core, and on this 2-core machine it shares that core with the load generator, the
upstream and Redis — so the ratio here is a floor for what a second core buys, not a ceiling.
CPU per request is the proxy's process tree (supervisor and workers) over the requests it answered.

The load comes from wrk (Debian's `wrk` package: C, one thread), because the Python load generator of
bench/loadgen.py saturates its core before two workers do (`--python-loadgen` uses it anyway).

Run: .venv/bin/python bench/workers.py [--trials 5] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from loadgen import closed_loop, percentile_ms  # noqa: E402
from perf import cpu_ms, free_port, payload, start_routetax, start_upstream_and_redis, stop  # noqa: E402

WRK_SCRIPT = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[%s]]
"""


def _duration_ms(text: str) -> float:
    for unit, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float(text)


def wrk_run(url: str, body: bytes, connections: int, seconds: float, tmp: Path) -> dict:
    """Closed loop with wrk (C, one thread): the Python load generator saturates before two workers do."""
    script = tmp / "post.lua"
    script.write_text(WRK_SCRIPT % body.decode())
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(script), url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    figures: dict = {"errors": 0}
    for line in out.splitlines():
        words = line.split()
        if line.strip().startswith("50%"):
            figures["p50_ms"] = _duration_ms(words[1])
        elif line.strip().startswith("99%"):
            figures["p99_ms"] = _duration_ms(words[1])
        elif "requests in" in line:
            figures["requests"] = int(words[0])
        elif line.startswith("Requests/sec:"):
            figures["rps"] = float(words[1])
        elif "Non-2xx" in line or "Socket errors" in line:
            figures["errors"] += sum(int(w.strip(",")) for w in words if w.strip(",").isdigit())
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--requests", type=int, default=6000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=8.0, help="per turn, with wrk")
    ap.add_argument("--python-loadgen", action="store_true", help="bench/loadgen.py instead of wrk")
    ap.add_argument("--output", type=Path, default=HERE / "results/workers.json")
    args = ap.parse_args()
    use_wrk = shutil.which("wrk") is not None and not args.python_loadgen
    if not use_wrk:
        print("wrk not installed (apt-get install wrk): the Python load generator saturates first", flush=True)
    started, load_before = time.time(), os.getloadavg()
    data = payload("small", False)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="routetax-workers-") as directory:
        tmp = Path(directory)
        background: list = []
        proxies: dict[int, tuple[object, str]] = {}
        try:
            upstream, redis_url = start_upstream_and_redis(background)
            for workers in (1, 2):
                port = free_port()
                proc = start_routetax(
                    upstream, redis_url, True, port, tmp, core="0,1", serve_args=("--workers", str(workers))
                )
                proxies[workers] = (proc, f"http://127.0.0.1:{port}/v1/chat/completions")
            time.sleep(3)
            for _, url in proxies.values():
                asyncio.run(closed_loop(url, data, args.concurrency, 2000))  # warm-up
            for trial in range(args.trials):
                order = (1, 2) if trial % 2 == 0 else (2, 1)
                for workers in order:
                    proc, url = proxies[workers]
                    before, t0 = cpu_ms(proc.pid), time.monotonic()  # type: ignore[attr-defined]
                    if use_wrk:
                        run = wrk_run(url, data, args.concurrency, args.seconds, tmp)
                    else:
                        loop = asyncio.run(closed_loop(url, data, args.concurrency, args.requests))
                        run = {
                            "rps": loop.rps,
                            "errors": loop.errors,
                            "requests": len(loop.latencies),
                            "p50_ms": percentile_ms(loop.latencies, 50),
                            "p99_ms": percentile_ms(loop.latencies, 99),
                        }
                    wall = time.monotonic() - t0
                    cpu = cpu_ms(proc.pid) - before  # type: ignore[attr-defined]
                    row = {
                        "trial": trial,
                        "workers": workers,
                        **run,
                        "cpu_ms_per_req": cpu / max(1, run["requests"]),
                        "proxy_cores_busy": cpu / 1000 / wall,
                    }
                    rows.append(row)
                    print(
                        f"  trial {trial} workers={workers}: {row['rps']:7.0f} req/s  p50 {row['p50_ms']:6.2f}"
                        f"  p99 {row['p99_ms']:6.2f} ms  cpu {row['cpu_ms_per_req']:.3f} ms/req"
                        f"  proxy cores busy {row['proxy_cores_busy']:.2f}  errors {row['errors']}",
                        flush=True,
                    )
        finally:
            for proc, _ in proxies.values():
                stop(proc)  # type: ignore[arg-type]
            for proc in background:
                stop(proc)
    summary = {}
    for workers in (1, 2):
        mine = [r for r in rows if r["workers"] == workers]
        summary[workers] = {
            key: statistics.median(r[key] for r in mine)
            for key in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_req", "proxy_cores_busy")
        }
    ratio = summary[2]["rps"] / summary[1]["rps"]
    print("\nmedian of turns:")
    for workers, s in summary.items():
        print(
            f"  --workers {workers}: {s['rps']:7.0f} req/s, p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms, "
            f"CPU {s['cpu_ms_per_req']:.3f} ms/request, proxy cores busy {s['proxy_cores_busy']:.2f}"
        )
    print(f"  2 workers / 1 worker throughput: {ratio:.2f}x")
    print(f"load average before / after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "rows": rows,
        "summary": summary,
        "ratio": ratio,
    }
    args.output.write_text(json.dumps(result, indent=1))
    print(f"written: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
