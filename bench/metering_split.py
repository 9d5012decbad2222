"""What each part of metering costs, measured by turning it off: the split behind docs/performance.md.

Metering's price is the gap between the metering-on and metering-off proxies at saturation. To
see which part makes it, this script runs six proxies at once (by default) — off, on, and on with one part
turned off — and has them take turns at saturation (closed loop, small and large JSON,
concurrency 10 and 50, rotating which goes first), as `perf.py`'s A/B phase does for on/off.
A part's share is how much of the on/off throughput gap turning it off closes.

The parts are turned off by replacing the functions that do them in the proxy process before it starts
(`--serve-without PART`), never by a switch in the product:
- `ledger`: `Ledger.submit` drops the record (no JSON, rollups, Redis script);
- `metrics`: `Metrics.observe` does nothing;
- `usage+pricing`: the pipeline's usage and price stages do nothing (no usage read, no prices; the budget
  and cache-affinity settlements then find no usage and return early too);
- `listeners`: the pipeline's router stages (key-budget settlement, cache affinity, the
  auto policy's window) are removed.
Profilers disagreed here: cProfile charges every Python call, py-spy misses the work a part
causes elsewhere (garbage collection, cache misses); turning a part off measures all of it.

Run (≈ 3 minutes): .venv/bin/python bench/metering_split.py [--trials 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

PARTS = ("ledger", "metrics", "usage+pricing", "listeners")


def turn_off(part: str) -> None:
    """Replace the function that does `part` in this process (the proxy, before it starts)."""
    if part == "ledger":
        from metering.ledger import Ledger

        Ledger.submit = lambda self, record: None  # type: ignore[method-assign]
    elif part == "metrics":
        from metering.metrics import Metrics

        Metrics.observe = lambda self, record: None  # type: ignore[method-assign]
    elif part == "usage+pricing":
        from metering.pipeline import MeteringPipeline

        MeteringPipeline._complete_usage = lambda self, record, completion: None  # type: ignore[method-assign]
        MeteringPipeline._price = lambda self, record: None  # type: ignore[method-assign]
    elif part == "listeners":
        import router.app
        from metering.pipeline import RouterStages

        build = router.app.create_app

        def without_listeners(config, metering=None):  # noqa: ANN001, ANN202
            served = build(config, metering)
            served.app.state.metering.router_stages = RouterStages()
            return served

        router.app.create_app = without_listeners
    else:
        raise SystemExit(f"unknown part {part!r}; one of {', '.join(PARTS)}")


def serve_without(parts: str, argv: list[str]) -> int:
    for part in parts.split(","):
        turn_off(part)
    from cli import main

    return main(argv)


def main() -> int:
    from loadgen import closed_loop
    from perf import (
        REST_CORE,
        cpu_ms,
        free_port,
        payload,
        start_prometheus,
        start_routetax,
        start_upstream_and_redis,
        stop,
    )

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--requests", type=int, default=2000, help="per turn")
    ap.add_argument(
        "--without", nargs="+", default=list(PARTS), help="the variants: parts to turn off, comma-joined for several"
    )
    args = ap.parse_args()
    os.sched_setaffinity(0, {int(REST_CORE)})
    variants: list[tuple[str, bool, str | None]] = [("on", True, None), ("off", False, None)]
    variants += [(f"on - {parts}", True, parts) for parts in args.without]
    with tempfile.TemporaryDirectory(prefix="routetax-split-") as directory:
        tmp = Path(directory)
        background: list[subprocess.Popen | None] = []
        proxies: list[subprocess.Popen] = []
        try:
            upstream, redis_url = start_upstream_and_redis(background)
            ports = [free_port() for _ in variants]
            background.append(start_prometheus(ports, tmp))
            for port, (_name, metering, part) in zip(ports, variants, strict=True):
                launcher = None if part is None else [sys.executable, str(Path(__file__)), "--serve-without", part]
                proxies.append(start_routetax(upstream, redis_url, metering, port, tmp, launcher))
            urls = [f"http://127.0.0.1:{port}/v1/chat/completions" for port in ports]
            for url in urls:  # warm up every proxy the same way
                asyncio.run(closed_loop(url, payload("small", False), 10, 1000))
            rps: dict[str, list[float]] = {name: [] for name, _, _ in variants}
            cpu: dict[str, list[float]] = {name: [] for name, _, _ in variants}
            for trial in range(args.trials):
                for size in ("small", "large"):
                    data = payload(size, False)
                    for concurrency in (10, 50):
                        turn = {}
                        order = list(range(len(variants)))
                        order = order[trial % len(order) :] + order[: trial % len(order)]
                        for index in order:
                            before = cpu_ms(proxies[index].pid)
                            run = asyncio.run(closed_loop(urls[index], data, concurrency, args.requests))
                            turn[index] = (run.rps, (cpu_ms(proxies[index].pid) - before) / max(1, len(run.latencies)))
                        for index, (name, _, _) in enumerate(variants):
                            rps[name].append(turn[index][0] / turn[0][0])  # relative to metering on, same turn
                            cpu[name].append(turn[index][1])
                print(f"  trial {trial} done", flush=True)
        finally:
            for proc in [*proxies, *background]:
                stop(proc)
    gap = statistics.median(rps["off"]) - 1
    print(f"\nthroughput relative to metering on (median of {len(rps['on'])} turns), CPU ms per request (median)")
    for name, _, part in variants:
        ratio = statistics.median(rps[name])
        share = "" if part is None else f"   closes {100 * (ratio - 1) / gap:5.1f} % of the on/off gap"
        print(f"  {name:22s} {ratio:6.3f}   {statistics.median(cpu[name]):.3f} ms{share}")
    print(f"metering on / off: {1 / statistics.median(rps['off']):.3f}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve-without":
        sys.exit(serve_without(sys.argv[2], sys.argv[3:]))
    sys.exit(main())
