"""routetax performance harness (issue 10): added latency, CPU/request and RSS of the proxy on loopback.

Starts bench/fixed_upstream.py (core 1), routetax serve (core 0) with a real redis-server
(metering on) or the in-process store (closest to "metering off": no config switch exists),
and drives closed-loop load (concurrency 1, 10, 50) with aiohttp from this process (core 1).
Prints one table and writes bench/results/latest.json.
Run: .venv/bin/python bench/perf.py [--quick]
PARTIAL (deadline): JSON only; open-loop, SSE/TTFT, LiteLLM and leak-check are not yet done.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} not up")


def cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / TICK


def rss_kb(pid: int, key: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def body(size: str) -> bytes:
    text = "Summarise: " + ("lorem ipsum dolor " * (10 if size == "small" else 1700))
    return json.dumps({"model": "auto", "messages": [{"role": "user", "content": text}]}).encode()


async def closed_loop(url: str, payload: bytes, concurrency: int, n: int) -> list[float]:
    lat: list[float] = []
    conn = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    headers = {"content-type": "application/json", "authorization": "Bearer bench"}
    async with aiohttp.ClientSession(connector=conn) as s:
        remaining = n

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                t0 = time.perf_counter()
                async with s.post(url, data=payload, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"{url}: HTTP {r.status}")
                lat.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return lat


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000


def start_proxy(upstream: str, redis_url: str | None, tmp: Path) -> tuple[subprocess.Popen, int]:
    sys.path.insert(0, str(ROOT))
    from router.demo import demo_config

    port = free_port()
    cfg = demo_config(upstream).model_dump(mode="json")
    cfg["server"]["port"] = port
    cfg["store"]["redis_url"] = redis_url
    cfg["store"]["spool_dir"] = str(tmp / f"spool{port}")
    cfg["auth"]["mode"] = "open"
    path = tmp / f"routetax{port}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen(
        [
            "taskset",
            "-c",
            "0",
            str(ROOT / ".venv/bin/routetax"),
            "serve",
            "--config",
            str(path),
            "--log-level",
            "warning",
        ],
        cwd=tmp,
    )
    wait_port(port)
    return proc, port


def measure(name: str, url: str, pid: int | None, args: argparse.Namespace, rows: list[dict]) -> None:
    for size in ("small", "large"):
        payload = body(size)
        asyncio.run(closed_loop(url, payload, 10, 500))  # warm-up
        for c in (1, 10, 50):
            n = args.n
            c0 = cpu_ms(pid) if pid else 0.0
            t0 = time.perf_counter()
            lat = asyncio.run(closed_loop(url, payload, c, n))
            wall = time.perf_counter() - t0
            row = {
                "config": name,
                "prompt": size,
                "concurrency": c,
                "requests": n,
                "rps": n / wall,
                "p50_ms": pct(lat, 50),
                "p99_ms": pct(lat, 99),
                "cpu_ms_per_req": (cpu_ms(pid) - c0) / n if pid else None,
                "rss_kb": rss_kb(pid) if pid else None,
                "peak_rss_kb": rss_kb(pid, "VmHWM") if pid else None,
            }
            rows.append(row)
            print(
                f"  {name:14} {size:5} c={c:<3} {row['rps']:8.0f} rps p50 {row['p50_ms']:6.2f} p99 {row['p99_ms']:6.2f}",
                flush=True,
            )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer requests per cell")
    args = ap.parse_args()
    args.n = 1000 if args.quick else 3000
    args.leak_n = 10_000 if args.quick else 100_000
    leak: dict = {}
    os.sched_setaffinity(0, {1})
    procs: list[subprocess.Popen] = []
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        try:
            up_port = free_port()
            procs.append(
                subprocess.Popen(["taskset", "-c", "1", sys.executable, str(HERE / "fixed_upstream.py"), str(up_port)])
            )
            wait_port(up_port)
            upstream = f"http://127.0.0.1:{up_port}"
            rport = free_port()
            procs.append(
                subprocess.Popen(
                    [
                        "taskset",
                        "-c",
                        "1",
                        "/usr/bin/redis-server",
                        "--port",
                        str(rport),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--bind",
                        "127.0.0.1",
                    ],
                    stdout=subprocess.DEVNULL,
                )
            )
            wait_port(rport)
            print("pinning: proxy on core 0; upstream, redis and load generator on core 1", flush=True)
            measure("direct", f"{upstream}/v1/chat/completions", None, args, rows)
            for name, redis_url in (("metering-on", f"redis://127.0.0.1:{rport}/0"), ("inproc-store", None)):
                proxy, port = start_proxy(upstream, redis_url, tmp)
                procs.append(proxy)
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                measure(name, url, proxy.pid, args, rows)
                if name == "metering-on":
                    before = rss_kb(proxy.pid)
                    asyncio.run(closed_loop(url, body("small"), 10, args.leak_n))
                    leak = {"requests": args.leak_n, "rss_before_kb": before, "rss_after_kb": rss_kb(proxy.pid)}
                proxy.terminate()
                proxy.wait(10)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.terminate()
                    p.wait(10)
    direct = {(r["prompt"], r["concurrency"]): r for r in rows if r["config"] == "direct"}
    print(
        f"\n{'config':14} {'prompt':6} {'conc':>4} {'rps':>8} {'p50':>7} {'p99':>7} {'+p50':>7} {'+p99':>7} {'cpu ms/req':>10} {'peakRSS MB':>10}"
    )
    for r in rows:
        d0 = direct[(r["prompt"], r["concurrency"])]
        r["added_p50_ms"] = r["p50_ms"] - d0["p50_ms"]
        r["added_p99_ms"] = r["p99_ms"] - d0["p99_ms"]
        cpu = f"{r['cpu_ms_per_req']:.3f}" if r["cpu_ms_per_req"] is not None else "-"
        rss = f"{r['peak_rss_kb'] / 1024:.0f}" if r["peak_rss_kb"] else "-"
        print(
            f"{r['config']:14} {r['prompt']:6} {r['concurrency']:4} {r['rps']:8.0f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['added_p50_ms']:7.2f} {r['added_p99_ms']:7.2f} {cpu:>10} {rss:>10}"
        )
    cell = {(r["config"], r["prompt"], r["concurrency"]): r for r in rows}
    growth = leak["rss_after_kb"] / leak["rss_before_kb"] - 1
    on = sum(cell[("metering-on", s, c)]["rps"] for s in ("small", "large") for c in (1, 10, 50))
    off = sum(cell[("inproc-store", s, c)]["rps"] for s in ("small", "large") for c in (1, 10, 50))
    targets = [
        ("added p50 <= 1 ms at c=1 (metering on, small)", cell[("metering-on", "small", 1)]["added_p50_ms"] <= 1),
        ("added p99 <= 5 ms at c=10 (metering on, small)", cell[("metering-on", "small", 10)]["added_p99_ms"] <= 5),
        (f"metering on costs <= 10% throughput vs in-process store (on/off = {on / off:.2f})", on >= 0.9 * off),
        (
            f"RSS growth <= 10% over {leak['requests']} requests ({leak['rss_before_kb'] / 1024:.0f} -> {leak['rss_after_kb'] / 1024:.0f} MB, {growth:+.1%})",
            growth <= 0.10,
        ),
        ("LiteLLM comparison (>= 5x throughput, <= 1/5 added latency)", None),
    ]
    print()
    for label, ok in targets:
        print(f"{'NOT RUN' if ok is None else 'PASS' if ok else 'MISS':8} {label}")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results/latest.json").write_text(
        json.dumps(
            {
                "quick": args.quick,
                "rows": rows,
                "leak": leak,
                "targets": [{"target": t, "pass": ok} for t, ok in targets],
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
