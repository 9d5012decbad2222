"""routetax performance harness (issue 10): routetax against direct calls and the LiteLLM proxy, one run.

Sets everything up itself on 127.0.0.1, prints the tables and writes bench/results/latest.json:
- upstream: bench/fixed_upstream.py (one fixed chat completion; a fixed SSE stream when asked);
- direct: the load generator straight to that upstream — the baseline every "added" figure subtracts;
- metering-on: `routetax serve` with its ledger in a real redis-server and Prometheus (Debian's
  package, when installed) scraping /metrics every second;
- metering-off: the same proxy with `metering.enabled: false` (same Redis, same scrape);
- litellm: the LiteLLM proxy (`litellm[proxy]`, installed by this script into bench/.litellm-venv,
  not a project dependency) routing the same model name to the same upstream.

Pinning (2 cores): the proxy under test runs alone on core 0 (`taskset -c 0`); the upstream,
Redis, Prometheus and this load generator share core 1 (`taskset -c 1` / sched_setaffinity).

Load: closed loop at concurrency 1, 10 and 50 (small ~0.2 KB and large ~30 KB prompts, JSON and
SSE), then an open-loop rate sweep (latency from the scheduled send time, no coordinated
omission) for the maximum throughput at a given added p99; then 100,000 requests for the RSS leak
check (`--quick`: 20,000); then two A/B phases, because this VM drifts between minutes: metering's
price (both proxies up, taking turns at saturation, 5 trials x small/large x c=10/50: the median
on/off ratio is judged against the 10% target) and the added latency (direct and metering-on in
turns at c=1 and c=10: the median added p50 / p99 are judged against the latency targets).

With `--otel`, first an OpenTelemetry A/B (`otel_ab`): a proxy exporting traces and metrics over OTLP/HTTP to
a tiny sink and one without, in turns (`--otel-only`: that phase alone).

`--access-log` runs only the access log's A/B instead: two metering-on proxies, `log.access` off and on,
and direct calls in turns (`access_log_ab`); `--smoke` makes it short.

Run: .venv/bin/python bench/perf.py [--quick] [--no-litellm] [--otel | --otel-only] | [--access-log [--smoke]]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from loadgen import closed_loop, open_loop, percentile_ms  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
LITELLM_VENV = HERE / ".litellm-venv"
LITELLM_SPEC = "litellm[proxy]==1.106.2"  # the version measured in docs/performance.md
PROXY_CORE, REST_CORE = "0", "1"
BUDGETS_MS = (5, 10, 25, 50, 100)  # added p99 budgets for the maximum-throughput table
ROUTETAX_RATES = (250, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 5000)
LITELLM_RATES = (10, 25, 50, 75, 100, 150, 200)


# -- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s")


def pinned(core: str, argv: list[str], **kwargs: object) -> subprocess.Popen:
    return subprocess.Popen(["taskset", "-c", core, *argv], **kwargs)  # type: ignore[call-overload]


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (LiteLLM may start worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_ms(pid: int) -> float:
    return cpu_ms_of(process_tree(pid))


def cpu_ms_of(pids: list[int]) -> float:
    """User + system CPU of these processes (bench/streams.py samples a tree it listed once)."""
    total = 0.0
    for member in pids:
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) * 1000 / TICK
    return total


def memory_kb(pid: int, key: str) -> int:
    """VmRSS (now) or VmHWM (peak) summed over the process tree."""
    return memory_kb_of(process_tree(pid), key)


def memory_kb_of(pids: list[int], key: str) -> int:
    total = 0
    for member in pids:
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except OSError:
            continue
        total += sum(int(line.split()[1]) for line in lines if line.startswith(key + ":"))
    return total


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def start_routetax(
    upstream: str,
    redis_url: str,
    metering: bool,
    port: int,
    tmp: Path,
    launcher: list[str] | None = None,
    *,
    core: str = PROXY_CORE,
    pool_size: int | None = None,
    serve_args: tuple[str, ...] = (),
    sections: dict[str, dict] | None = None,
    env: dict[str, str] | None = None,
    wait_s: float = 30.0,
) -> subprocess.Popen:
    """`routetax serve` on the demo tiers pointed at `upstream`, pinned to `core`; `launcher` replaces the
    `routetax` console script (bench/metering_split.py starts it with parts turned off); `pool_size` sets
    every tier's connection limit (bench/streams.py holds thousands of streams); `serve_args` are added
    to `serve` (`--workers 2`); `sections` are configuration sections written as given (bench/tasks.py
    sets `tasks`); `env` is added to its environment (`--otel`: the OTEL_* variables); `wait_s` bounds its start
    (under valgrind: minutes)."""
    from demo.world import demo_config

    config = demo_config(upstream).model_dump(mode="json")
    if pool_size is not None:
        for tier in config["tiers"].values():
            tier["pool_size"] = pool_size
    config["server"]["port"] = port
    config["store"] = {"redis_url": redis_url, "spool_dir": str(tmp / f"spool-{port}")}
    config["auth"] = {"mode": "open"}
    config["metering"] = {"enabled": metering}
    config.update(sections or {})
    path = tmp / f"routetax-{port}.yaml"
    path.write_text(yaml.safe_dump(config))
    argv = [*(launcher or [str(ROOT / ".venv/bin/routetax")]), "serve", "--config", str(path), "--log-level", "warning"]
    with open(tmp / f"routetax-{port}.log", "wb") as log:  # the child keeps its own descriptor
        environment = {**os.environ, **env} if env is not None else None
        proc = pinned(core, [*argv, *serve_args], cwd=tmp, stderr=log, env=environment)
    wait_port(port, wait_s)
    return proc


def start_upstream_and_redis(background: list[subprocess.Popen | None]) -> tuple[str, str]:
    """The fixed upstream and a throwaway redis-server on the rest core (added to `background`):
    their base URLs."""
    upstream_port, redis_port = free_port(), free_port()
    background.append(pinned(REST_CORE, [sys.executable, str(HERE / "fixed_upstream.py"), str(upstream_port)]))
    redis_argv = ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"]
    background.append(pinned(REST_CORE, redis_argv, stdout=subprocess.DEVNULL))
    wait_port(upstream_port)
    wait_port(redis_port)
    return f"http://127.0.0.1:{upstream_port}", f"redis://127.0.0.1:{redis_port}/0"


def start_prometheus(ports: list[int], tmp: Path) -> subprocess.Popen | None:
    binary = shutil.which("prometheus")
    if binary is None:
        print("prometheus not installed: /metrics is not scraped during the run", flush=True)
        return None
    targets = [f"127.0.0.1:{p}" for p in ports]
    scrape = {"job_name": "routetax", "scrape_interval": "1s", "static_configs": [{"targets": targets}]}
    (tmp / "prometheus.yml").write_text(yaml.safe_dump({"scrape_configs": [scrape]}))
    argv = [
        binary,
        f"--config.file={tmp / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{free_port()}",
    ]
    return pinned(REST_CORE, argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def ensure_litellm() -> Path | None:
    """The LiteLLM proxy in its own virtual environment (installed on first use); None if it cannot be."""
    binary = LITELLM_VENV / "bin/litellm"
    if binary.exists():
        return binary
    print(f"installing {LITELLM_SPEC} into {LITELLM_VENV} (first run only) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        pip = [str(LITELLM_VENV / "bin/pip"), "install", "-q", LITELLM_SPEC]
        subprocess.run(pip, check=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"LiteLLM could not be installed ({exc}): its column is not run", flush=True)
        return None
    return binary if binary.exists() else None


def start_litellm(binary: Path, upstream: str, port: int, tmp: Path) -> subprocess.Popen:
    model = {
        "model_name": "auto",
        "litellm_params": {"model": "openai/gpt-5.4-nano", "api_base": f"{upstream}/v1", "api_key": "sk-bench"},
    }
    path = tmp / "litellm.yaml"
    path.write_text(yaml.safe_dump({"model_list": [model], "litellm_settings": {"telemetry": False}}))
    env = {
        **os.environ,
        "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",  # no master key: open, like routetax here
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    argv = [str(binary), "--config", str(path), "--port", str(port), "--num_workers", "1"]
    proc = pinned(PROXY_CORE, argv, cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, timeout=120)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the port opens before the router is loaded
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/chat/completions",
                data=payload("small", False),
                headers={"content-type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                if response.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("LiteLLM proxy never answered a chat completion")


# -- measurements --------------------------------------------------------------------------------


def payload(size: str, stream: bool) -> bytes:
    text = "Summarise: " + ("lorem ipsum dolor " * (10 if size == "small" else 1700))
    body: dict[str, object] = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


def closed_cells(name: str, url: str, pid: int | None, requests: int, concurrencies: tuple[int, ...]) -> list[dict]:
    rows = []
    for size in ("small", "large"):
        for stream in (False, True):
            data = payload(size, stream)
            asyncio.run(closed_loop(url, data, 10, min(requests, 300), stream))  # warm-up
            for concurrency in concurrencies:
                cpu_before = cpu_ms(pid) if pid else 0.0
                run = asyncio.run(closed_loop(url, data, concurrency, requests, stream))
                row = {
                    "config": name,
                    "prompt": size,
                    "mode": "sse" if stream else "json",
                    "concurrency": concurrency,
                    "requests": len(run.latencies),
                    "errors": run.errors,
                    "rps": run.rps,
                    "p50_ms": percentile_ms(run.latencies, 50),
                    "p99_ms": percentile_ms(run.latencies, 99),
                    "ttft_p50_ms": percentile_ms(run.ttfts, 50),
                    "ttft_p99_ms": percentile_ms(run.ttfts, 99),
                    "cpu_ms_per_req": (cpu_ms(pid) - cpu_before) / max(1, len(run.latencies)) if pid else None,
                    "peak_rss_mb": memory_kb(pid, "VmHWM") / 1024 if pid else None,
                }
                rows.append(row)
                print(
                    f"  {name:12} {size:5} {row['mode']:4} c={concurrency:<3} {row['rps']:7.0f} rps"
                    f"  p50 {row['p50_ms']:7.2f}  p99 {row['p99_ms']:7.2f}  errors {run.errors}",
                    flush=True,
                )
    return rows


def sweep(name: str, url: str, rates: tuple[int, ...], seconds: float, stop_p99_ms: float) -> list[dict]:
    """Open loop at rising rates until the p99 passes `stop_p99_ms` or the proxy cannot keep up.

    Each rate runs twice and keeps the trial with the lower p99: the load generator shares core 1
    with the upstream, Redis and Prometheus, and one hiccup there would otherwise decide a rate.
    """
    rows = []
    data = payload("small", False)
    for rate in rates:
        trials = [asyncio.run(open_loop(url, data, rate, max(100, int(rate * seconds)))) for _ in range(2)]
        run = min(trials, key=lambda t: percentile_ms(t.latencies, 99) or float("inf"))
        p99 = percentile_ms(run.latencies, 99) or float("inf")
        rows.append(
            {
                "config": name,
                "rate": rate,
                "achieved_rps": run.rps,
                "errors": run.errors,
                "p50_ms": percentile_ms(run.latencies, 50),
                "p99_ms": p99,
                "p99_ms_trials": [percentile_ms(t.latencies, 99) for t in trials],
            }
        )
        print(f"  {name:12} rate {rate:5}  achieved {run.rps:7.0f}  p99 {p99:8.2f} ms  errors {run.errors}", flush=True)
        if p99 > stop_p99_ms or run.errors or run.rps < 0.9 * rate:
            break
    return rows


def metering_ab(on: tuple[str, int], off: tuple[str, int], trials: int, requests: int) -> dict:
    """What metering costs, measured A/B: the metering-on and metering-off proxies (both running)
    take turns at saturation — closed loop, small and large JSON, concurrency 10 and 50 — and each
    trial alternates which goes first. This VM's speed drifts by tens of percent over minutes, so
    the two configuration blocks of the table, minutes apart, can differ by more than metering
    costs; a turn-by-turn pairing puts the same drift on both sides. The figure is the median of the
    per-pair throughput ratios (and of proxy CPU per request)."""
    pairs = []
    for trial in range(trials):
        for size in ("small", "large"):
            data = payload(size, False)
            for concurrency in (10, 50):
                pair: dict = {"trial": trial, "prompt": size, "concurrency": concurrency}
                order = (("on", on), ("off", off)) if trial % 2 == 0 else (("off", off), ("on", on))
                for side, (url, pid) in order:
                    cpu_before = cpu_ms(pid)
                    run = asyncio.run(closed_loop(url, data, concurrency, requests))
                    pair[f"{side}_rps"] = run.rps
                    pair[f"{side}_cpu_ms_per_req"] = (cpu_ms(pid) - cpu_before) / max(1, len(run.latencies))
                    pair[f"{side}_errors"] = run.errors
                pair["rps_ratio"] = pair["on_rps"] / pair["off_rps"]
                pairs.append(pair)
        last = pairs[-4:]
        print(
            f"  trial {trial}: on/off throughput "
            + "  ".join(f"{p['prompt']} c={p['concurrency']} {p['rps_ratio']:.2f}" for p in last),
            flush=True,
        )
    return {
        "pairs": pairs,
        "median_rps_ratio": statistics.median(p["rps_ratio"] for p in pairs),
        "median_on_cpu_ms_per_req": statistics.median(p["on_cpu_ms_per_req"] for p in pairs),
        "median_off_cpu_ms_per_req": statistics.median(p["off_cpu_ms_per_req"] for p in pairs),
    }


def latency_ab(direct_url: str, proxy_url: str, trials: int, requests: int) -> dict:
    """Added latency measured A/B: direct and the metering-on proxy take turns (small JSON, concurrency
    1 and 10, alternating which goes first), and each pair's proxy p50/p99 minus direct's is one sample;
    the figure is the median. A cell of the table subtracts a direct run taken minutes earlier, and one
    slow minute on core 1 (generator, upstream) moves a p99 over 2,000 requests by several ms."""
    pairs = []
    data = payload("small", False)
    for trial in range(trials):
        for concurrency in (1, 10):
            pair: dict = {"trial": trial, "concurrency": concurrency}
            order = (("direct", direct_url), ("proxy", proxy_url))
            for side, url in order if trial % 2 == 0 else order[::-1]:
                run = asyncio.run(closed_loop(url, data, concurrency, requests))
                pair[f"{side}_p50_ms"] = percentile_ms(run.latencies, 50)
                pair[f"{side}_p99_ms"] = percentile_ms(run.latencies, 99)
                pair[f"{side}_rps"] = run.rps
            pair["added_p50_ms"] = pair["proxy_p50_ms"] - pair["direct_p50_ms"]
            pair["added_p99_ms"] = pair["proxy_p99_ms"] - pair["direct_p99_ms"]
            pairs.append(pair)
        print(
            f"  trial {trial}: added p50 / p99 "
            + "  ".join(
                f"c={p['concurrency']} {p['added_p50_ms']:.2f} / {p['added_p99_ms']:.2f} ms" for p in pairs[-2:]
            ),
            flush=True,
        )
    summary: dict = {"pairs": pairs}
    for concurrency in (1, 10):
        mine = [p for p in pairs if p["concurrency"] == concurrency]
        summary[f"c{concurrency}_added_p50_ms"] = statistics.median(p["added_p50_ms"] for p in mine)
        summary[f"c{concurrency}_added_p99_ms"] = statistics.median(p["added_p99_ms"] for p in mine)
        summary[f"c{concurrency}_rps"] = statistics.median(p["proxy_rps"] for p in mine)
    return summary


def otel_ab(upstream: str, redis_url: str, tmp: Path, trials: int, requests: int) -> dict:
    """What OpenTelemetry costs, in turns: two metering-on proxies, one with OTel off and one exporting traces and
    metrics over OTLP/HTTP to a tiny sink (bench/otlp_sink.py, on the load's core), take turns at small JSON and
    SSE, concurrency 1 and 10, alternating which goes first. Per pair: each side's p50 / p99 and the proxy's CPU
    per request; the figures are the medians of the on-minus-off differences. The batch delay and the metric
    interval are the SDK's defaults (5 s, 60 s): what a deployment that sets only an endpoint gets."""
    sink_port = free_port()
    sink_log = open(tmp / "otlp-sink.log", "wb")  # noqa: SIM115 (closed after the sink is stopped)
    sink = pinned(REST_CORE, [sys.executable, str(HERE / "otlp_sink.py"), str(sink_port)], stdout=sink_log)
    wait_port(sink_port)
    otel_env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}"}
    ports = {"otel-off": free_port(), "otel-on": free_port()}
    proxies = {
        name: start_routetax(upstream, redis_url, True, port, tmp, env=otel_env if name == "otel-on" else None)
        for name, port in ports.items()
    }
    pairs = []
    try:
        urls = {name: f"http://127.0.0.1:{port}/v1/chat/completions" for name, port in ports.items()}
        for url in urls.values():
            asyncio.run(closed_loop(url, payload("small", False), 10, min(requests, 1000)))  # warm-up
        for trial in range(trials):
            for stream in (False, True):
                data = payload("small", stream)
                for concurrency in (1, 10):
                    pair: dict = {"trial": trial, "stream": stream, "concurrency": concurrency}
                    order = ("otel-off", "otel-on") if trial % 2 == 0 else ("otel-on", "otel-off")
                    for name in order:
                        pid = proxies[name].pid
                        cpu_before = cpu_ms(pid)
                        run = asyncio.run(closed_loop(urls[name], data, concurrency, requests))
                        side = name.removeprefix("otel-")
                        pair[f"{side}_p50_ms"] = percentile_ms(run.latencies, 50)
                        pair[f"{side}_p99_ms"] = percentile_ms(run.latencies, 99)
                        pair[f"{side}_cpu_ms_per_req"] = (cpu_ms(pid) - cpu_before) / max(1, len(run.latencies))
                        pair[f"{side}_errors"] = run.errors
                    for figure in ("p50_ms", "p99_ms", "cpu_ms_per_req"):
                        pair[f"added_{figure}"] = pair[f"on_{figure}"] - pair[f"off_{figure}"]
                    pairs.append(pair)
            print(
                f"  trial {trial}: OTel on - off, p50 / p99 / CPU per request  "
                + "  ".join(
                    f"{'SSE' if p['stream'] else 'JSON'} c={p['concurrency']} {p['added_p50_ms']:+.3f} / "
                    f"{p['added_p99_ms']:+.3f} / {p['added_cpu_ms_per_req']:+.3f} ms"
                    for p in pairs[-4:]
                ),
                flush=True,
            )
    finally:
        for proc in proxies.values():
            stop(proc)
        stop(sink)
        sink_log.close()
    summary: dict = {"pairs": pairs, "sink": (tmp / "otlp-sink.log").read_text().strip()}
    for stream in (False, True):
        for concurrency in (1, 10):
            mine = [p for p in pairs if p["stream"] == stream and p["concurrency"] == concurrency]
            cell = f"{'sse' if stream else 'json'}_c{concurrency}"
            for figure in ("p50_ms", "p99_ms", "cpu_ms_per_req"):
                summary[f"{cell}_off_{figure}"] = statistics.median(p[f"off_{figure}"] for p in mine)
                summary[f"{cell}_added_{figure}"] = statistics.median(p[f"added_{figure}"] for p in mine)
    print(f"  {summary['sink']}", flush=True)
    return summary


def access_log_ab(upstream: str, redis_url: str, tmp: Path, trials: int, requests: int) -> dict:
    """What the access log (`log.access`) costs, measured in turns: two metering-on proxies, one with the access
    log off and one with it on (its lines to a file on disk, as `serve` writes stderr here), and direct calls,
    take turns at concurrency 1 and 10 (small JSON; which proxy goes first alternates by trial). Each pair gives
    each proxy's added p50 / p99 over the direct run beside it and its CPU per request; the figures are medians.
    CPU per request is the steadier figure on a busy machine: latency moves with whatever else runs on core 1."""
    direct_url = f"{upstream}/v1/chat/completions"
    ports = {"off": free_port(), "on": free_port()}
    proxies = {
        side: start_routetax(
            upstream,
            redis_url,
            True,
            ports[side],
            tmp,
            [sys.executable, "-m", "cli"],
            sections={"log": {"access": side == "on"}},
        )
        for side in ports
    }
    data = payload("small", False)
    urls = {side: f"http://127.0.0.1:{port}/v1/chat/completions" for side, port in ports.items()}
    pairs = []
    try:
        for url in urls.values():
            asyncio.run(closed_loop(url, data, 10, min(requests, 1000)))  # warm-up
        for trial in range(trials):
            for concurrency in (1, 10):
                pair: dict = {"trial": trial, "concurrency": concurrency}
                sides = ("direct", "off", "on") if trial % 2 == 0 else ("direct", "on", "off")
                for side in sides:
                    pids = process_tree(proxies[side].pid) if side != "direct" else []
                    cpu_before = cpu_ms_of(pids)
                    run = asyncio.run(closed_loop(urls.get(side, direct_url), data, concurrency, requests))
                    pair[f"{side}_p50_ms"] = percentile_ms(run.latencies, 50)
                    pair[f"{side}_p99_ms"] = percentile_ms(run.latencies, 99)
                    pair[f"{side}_errors"] = run.errors
                    if pids:
                        pair[f"{side}_cpu_ms_per_req"] = (cpu_ms_of(pids) - cpu_before) / max(1, len(run.latencies))
                for side in ("off", "on"):
                    pair[f"{side}_added_p50_ms"] = pair[f"{side}_p50_ms"] - pair["direct_p50_ms"]
                    pair[f"{side}_added_p99_ms"] = pair[f"{side}_p99_ms"] - pair["direct_p99_ms"]
                pairs.append(pair)
                print(
                    f"  trial {trial} c={concurrency}: added p50 / p99 off {pair['off_added_p50_ms']:.2f} / "
                    f"{pair['off_added_p99_ms']:.2f} ms, on {pair['on_added_p50_ms']:.2f} / "
                    f"{pair['on_added_p99_ms']:.2f} ms; CPU per request off {pair['off_cpu_ms_per_req']:.3f} ms, "
                    f"on {pair['on_cpu_ms_per_req']:.3f} ms",
                    flush=True,
                )
        logged = sum(1 for _ in (tmp / f"routetax-{ports['on']}.log").open("rb"))
    finally:
        for proc in proxies.values():
            stop(proc)
    summary: dict = {"pairs": pairs, "access_lines_written_by_the_on_proxy": logged}
    for concurrency in (1, 10):
        mine = [p for p in pairs if p["concurrency"] == concurrency]
        for side in ("off", "on"):
            for figure in ("added_p50_ms", "added_p99_ms", "cpu_ms_per_req"):
                summary[f"c{concurrency}_{side}_{figure}"] = statistics.median(p[f"{side}_{figure}"] for p in mine)
    return summary


def run_access_log_ab(trials: int, requests: int, output: Path, mode: str) -> int:
    """`--access-log`: only the access-log A/B (`access_log_ab`), its figures printed and written to `output`."""
    started, load_before = time.time(), os.getloadavg()[0]
    os.sched_setaffinity(0, {int(REST_CORE)})
    with tempfile.TemporaryDirectory(prefix="routetax-perf-") as directory:
        background: list[subprocess.Popen | None] = []
        try:
            upstream, redis_url = start_upstream_and_redis(background)
            print("access log A/B (direct, log.access off and on, in turns):", flush=True)
            result = access_log_ab(upstream, redis_url, Path(directory), trials, requests)
        finally:
            for proc in background:
                stop(proc)
    for c in (1, 10):
        off = [result[f"c{c}_off_{figure}"] for figure in ("added_p50_ms", "added_p99_ms", "cpu_ms_per_req")]
        on = [result[f"c{c}_on_{figure}"] for figure in ("added_p50_ms", "added_p99_ms", "cpu_ms_per_req")]
        print(
            f"c={c}: added p50 / p99 off {off[0]:.2f} / {off[1]:.2f} ms, on {on[0]:.2f} / {on[1]:.2f} ms; "
            f"CPU per request off {off[2]:.3f} ms, on {on[2]:.3f} ms"
        )
    result = {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "mode": mode,
        "load_average_before": load_before,  # the machine's own load: latency figures move with it
        "trials": trials,
        "requests_per_side": requests,
        **result,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=1))
    print(f"\nwritten: {output}")
    return 0


def leak_check(url: str, pid: int, requests: int) -> dict:
    before = memory_kb(pid, "VmRSS")
    run = asyncio.run(closed_loop(url, payload("small", False), 10, requests))
    after = memory_kb(pid, "VmRSS")
    return {"requests": len(run.latencies), "errors": run.errors, "rss_before_kb": before, "rss_after_kb": after}


# -- figures -------------------------------------------------------------------------------------


def add_deltas(cells: list[dict], sweeps: list[dict]) -> None:
    """Added latency = the configuration's figure minus direct's at the same cell (or the same rate)."""
    direct = {(r["prompt"], r["mode"], r["concurrency"]): r for r in cells if r["config"] == "direct"}
    for row in cells:
        base = direct[(row["prompt"], row["mode"], row["concurrency"])]
        for key in ("p50_ms", "p99_ms", "ttft_p50_ms", "ttft_p99_ms"):
            if row[key] is not None and base[key] is not None:
                row["added_" + key] = row[key] - base[key]
    direct_rates = sorted((r["rate"], r["p99_ms"]) for r in sweeps if r["config"] == "direct")
    for row in sweeps:
        # direct at the same rate, or at the nearest measured rate above it (LiteLLM's rates are lower)
        base = next((p99 for rate, p99 in direct_rates if rate >= row["rate"]), direct_rates[-1][1])
        row["added_p99_ms"] = row["p99_ms"] - base


def max_throughput(sweeps: list[dict], config: str, budget_ms: float) -> float:
    """The highest sustained rate with added p99 within the budget (0: none)."""
    passing = [
        r["achieved_rps"]
        for r in sweeps
        if r["config"] == config
        and r["added_p99_ms"] <= budget_ms
        and not r["errors"]
        and r["achieved_rps"] >= 0.9 * r["rate"]
    ]
    return max(passing, default=0.0)


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_tables(cells: list[dict], sweeps: list[dict], configs: list[str]) -> dict[str, dict[int, float]]:
    print(
        f"\n{'config':12} {'prompt':6} {'mode':4} {'conc':>4} {'rps':>7} {'p50':>7} {'p99':>7} {'+p50':>7} {'+p99':>7}"
        f" {'+ttft50':>7} {'+ttft99':>7} {'cpu ms/req':>10} {'peak MB':>7}"
    )
    for r in cells:
        print(
            f"{r['config']:12} {r['prompt']:6} {r['mode']:4} {r['concurrency']:4} {r['rps']:7.0f} {fmt(r['p50_ms']):>7}"
            f" {fmt(r['p99_ms']):>7} {fmt(r.get('added_p50_ms')):>7} {fmt(r.get('added_p99_ms')):>7}"
            f" {fmt(r.get('added_ttft_p50_ms')):>7} {fmt(r.get('added_ttft_p99_ms')):>7}"
            f" {fmt(r['cpu_ms_per_req'], 3):>10} {fmt(r['peak_rss_mb'], 0):>7}"
        )
    print(
        f"\nopen loop, small JSON prompts: {'config':12} {'rate':>5} {'achieved':>8} {'p50':>7} {'p99':>8} {'+p99':>8}"
    )
    for r in sweeps:
        print(
            f"{'':31}{r['config']:12} {r['rate']:5} {r['achieved_rps']:8.0f} {fmt(r['p50_ms']):>7}"
            f" {fmt(r['p99_ms']):>8} {fmt(r['added_p99_ms']):>8}"
        )
    table = {c: {b: max_throughput(sweeps, c, b) for b in BUDGETS_MS} for c in configs if c != "direct"}
    print(f"\nmax throughput (req/s) at added p99 <= {', '.join(f'{b}' for b in BUDGETS_MS)} ms:")
    for config, by_budget in table.items():
        print(f"  {config:12} " + "  ".join(f"{by_budget[b]:7.0f}" for b in BUDGETS_MS))
    return table


def judge(cells: list[dict], table: dict[str, dict[int, float]], leak: dict | None, ab: dict, lat: dict) -> list[dict]:
    cell = {(r["config"], r["prompt"], r["mode"], r["concurrency"]): r for r in cells}
    on = "metering-on"
    targets: list[dict] = []

    def target(text: str, ok: bool | None, figures: str) -> None:
        targets.append({"target": text, "pass": ok, "figures": figures})

    c1, c10 = cell[(on, "small", "json", 1)], cell[(on, "small", "json", 10)]
    cells_said = f"the table's cells: {c1['added_p50_ms']:.2f} ms at c=1, {c10['added_p99_ms']:.2f} ms at c=10"
    p50, p99 = lat["c1_added_p50_ms"], lat["c10_added_p99_ms"]
    target("added p50 <= 1 ms at concurrency 1 (A/B turns with direct, median)", p50 <= 1, f"{p50:.2f} ms")
    target(
        "added p99 <= 5 ms at concurrency 10 (closed loop, the proxy saturated; A/B turns with direct, median)",
        p99 <= 5,
        f"{p99:.2f} ms at {lat['c10_rps']:.0f} req/s ({cells_said})",
    )
    target(
        "max throughput at added p99 <= 5 ms (open loop) is above zero",
        table[on][5] > 0,
        f"{table[on][5]:.0f} req/s",
    )
    saturated = [(p, m, c) for p in ("small", "large") for m in ("json", "sse") for c in (10, 50)]
    on_rps = sum(cell[(on, *k)]["rps"] for k in saturated)
    off_rps = sum(cell[("metering-off", *k)]["rps"] for k in saturated)
    on_cpu = sum(cell[(on, *k)]["cpu_ms_per_req"] for k in saturated) / len(saturated)
    off_cpu = sum(cell[("metering-off", *k)]["cpu_ms_per_req"] for k in saturated) / len(saturated)
    blocks = f"the table's blocks, minutes apart: {on_rps / off_rps:.2f}, CPU ms/request {on_cpu:.3f} vs {off_cpu:.3f}"
    ratio = ab["median_rps_ratio"]
    target(
        "metering on costs <= 10% throughput vs metering off (A/B turns at saturation, median of pairs)",
        ratio >= 0.9,
        f"on/off throughput {ratio:.2f}; CPU ms/request {ab['median_on_cpu_ms_per_req']:.3f} vs "
        f"{ab['median_off_cpu_ms_per_req']:.3f} ({blocks})",
    )
    if "litellm" in table:
        budget = next((b for b in BUDGETS_MS if table["litellm"][b] > 0), None)
        if budget is None:
            target(">= 5x LiteLLM's throughput at equal added p99", None, "LiteLLM met no budget")
        else:
            x = table[on][budget] / table["litellm"][budget]
            figures = (
                f"{table[on][budget]:.0f} vs {table['litellm'][budget]:.0f} req/s at +p99 <= {budget} ms: {x:.1f}x"
            )
            target(">= 5x LiteLLM's throughput at equal added p99", x >= 5, figures)
        for concurrency in (1, 10):
            ours, theirs = cell[(on, "small", "json", concurrency)], cell[("litellm", "small", "json", concurrency)]
            share = ours["added_p50_ms"] / theirs["added_p50_ms"]
            target(
                f"<= 1/5 of LiteLLM's added latency (p50, concurrency {concurrency})",
                share <= 0.2,
                f"{ours['added_p50_ms']:.2f} vs {theirs['added_p50_ms']:.2f} ms = {share:.3f}",
            )
    else:
        target("LiteLLM comparison", None, "not run")
    if leak:
        growth = leak["rss_after_kb"] / leak["rss_before_kb"] - 1
        target(
            f"RSS growth <= 10% over {leak['requests']:,} requests",
            growth <= 0.10,
            f"{leak['rss_before_kb'] / 1024:.0f} -> {leak['rss_after_kb'] / 1024:.0f} MB ({growth:+.1%})",
        )
    print()
    for t in targets:
        mark = "NOT RUN" if t["pass"] is None else "PASS" if t["pass"] else "MISS"
        print(f"{mark:8} {t['target']}: {t['figures']}")
    return targets


# -- the run -------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer requests per cell (500), a 20,000-request leak check")
    ap.add_argument("--smoke", action="store_true", help="a few requests everywhere, no LiteLLM, no leak check")
    ap.add_argument("--no-litellm", action="store_true", help="skip the LiteLLM proxy")
    ap.add_argument("--output", type=Path)
    ap.add_argument(
        "--otel",
        action="store_true",
        help="also measure OpenTelemetry: a proxy exporting to a tiny OTLP sink and one without, in turns",
    )
    ap.add_argument(
        "--otel-only", action="store_true", help="only the OpenTelemetry phase (written to bench/results/otel.json)"
    )
    ap.add_argument(
        "--access-log",
        action="store_true",
        help="only the access-log A/B: log.access off and on in turns, added p50/p99 and CPU per request "
        "(written to bench/results/access_log.json unless --output)",
    )
    args = ap.parse_args()
    if args.access_log:
        trials, per_side = (2, 300) if args.smoke else (5, 2000)
        output = args.output or HERE / "results/access_log.json"
        return run_access_log_ab(trials, per_side, output, "smoke" if args.smoke else "full")
    if args.output is None:  # the full run's figures stay where they are
        args.output = HERE / ("results/otel.json" if args.otel_only else "results/latest.json")
    requests, seconds, leak_n = (2000, 3.0, 100_000)
    if args.quick:
        requests, seconds, leak_n = (500, 1.5, 20_000)
    if args.smoke:
        requests, seconds, leak_n = (30, 0.2, 0)
    concurrencies = (1, 10, 50)
    routetax_rates = ROUTETAX_RATES[:2] if args.smoke else ROUTETAX_RATES
    litellm = None if (args.smoke or args.no_litellm or args.otel_only) else ensure_litellm()

    os.sched_setaffinity(0, {int(REST_CORE)})
    cells: list[dict] = []
    sweeps: list[dict] = []
    leak: dict | None = None
    ab: dict | None = None
    lat: dict | None = None
    otel: dict | None = None
    configs = ["direct", "metering-on", "metering-off"]
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="routetax-perf-") as directory:
        tmp = Path(directory)
        background: list[subprocess.Popen | None] = []
        try:
            upstream, redis_url = start_upstream_and_redis(background)
            if args.otel or args.otel_only:
                print("OpenTelemetry A/B (off and on in turns, metering on in both):", flush=True)
                otel = otel_ab(upstream, redis_url, tmp, trials=2 if args.smoke else 5, requests=requests)
            if args.otel_only:
                args.output.parent.mkdir(parents=True, exist_ok=True)
                args.output.write_text(
                    json.dumps(
                        {
                            "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
                            "mode": "smoke" if args.smoke else "quick" if args.quick else "full",
                            "requests_per_cell": requests,
                            "otel_ab": otel,
                        },
                        indent=1,
                    )
                )
                print(f"\nwritten: {args.output}")
                return 0
            ports = {"metering-on": free_port(), "metering-off": free_port()}
            background.append(start_prometheus(list(ports.values()), tmp))
            print("pinning: proxy under test on core 0; upstream, redis, prometheus and load on core 1", flush=True)

            print("direct:", flush=True)
            direct_url = f"{upstream}/v1/chat/completions"
            cells += closed_cells("direct", direct_url, None, requests, concurrencies)
            sweeps += sweep("direct", direct_url, routetax_rates, seconds, float("inf"))

            for name, metering in (("metering-on", True), ("metering-off", False)):
                print(f"{name}:", flush=True)
                proxy = start_routetax(upstream, redis_url, metering, ports[name], tmp)
                url = f"http://127.0.0.1:{ports[name]}/v1/chat/completions"
                try:
                    cells += closed_cells(name, url, proxy.pid, requests, concurrencies)
                    sweeps += sweep(name, url, routetax_rates, seconds, 50.0)
                    if metering and leak_n:
                        print(f"  leak check: {leak_n:,} requests ...", flush=True)
                        leak = leak_check(url, proxy.pid, leak_n)
                finally:
                    stop(proxy)

            print("metering A/B:", flush=True)
            proxies = {
                name: start_routetax(upstream, redis_url, name == "metering-on", ports[name], tmp) for name in ports
            }
            try:
                on, off = (
                    (f"http://127.0.0.1:{ports[name]}/v1/chat/completions", proxies[name].pid)
                    for name in ("metering-on", "metering-off")
                )
                for url, _pid in (on, off):
                    asyncio.run(closed_loop(url, payload("small", False), 10, min(requests, 1000)))  # warm-up
                ab = metering_ab(on, off, trials=2 if args.smoke else 5, requests=requests)
                print("added latency A/B (direct and metering-on in turns):", flush=True)
                lat = latency_ab(direct_url, on[0], trials=2 if args.smoke else 5, requests=requests)
            finally:
                for proc in proxies.values():
                    stop(proc)

            if litellm is not None:
                print("litellm:", flush=True)
                port = free_port()
                proxy = start_litellm(litellm, upstream, port, tmp)
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                try:
                    cells += closed_cells("litellm", url, proxy.pid, max(100, requests // 5), concurrencies)
                    sweeps += sweep("litellm", url, LITELLM_RATES, max(seconds, 2.0), 400.0)
                    configs.append("litellm")
                finally:
                    stop(proxy)
        finally:
            for proc in background:
                stop(proc)

    add_deltas(cells, sweeps)
    table = print_tables(cells, sweeps, configs)
    assert ab is not None and lat is not None  # both A/B phases always run; a failure there raised above
    targets = judge(cells, table, leak, ab, lat)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "minutes": round((time.time() - started) / 60, 1),
        "mode": "smoke" if args.smoke else "quick" if args.quick else "full",
        "requests_per_cell": requests,
        "cells": cells,
        "sweeps": sweeps,
        "max_throughput_at_added_p99": table,
        "leak": leak,
        "metering_ab": ab,
        "latency_ab": lat,
        "otel_ab": otel,
        "targets": targets,
    }
    args.output.write_text(json.dumps(result, indent=1))
    print(f"\nwritten: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
