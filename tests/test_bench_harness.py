"""The performance harness runs end to end (a few requests per cell): it must not rot between measurements."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.running import Processes

ROOT = Path(__file__).resolve().parent.parent


def test_perf_harness_smoke_run_measures_every_configuration(tmp_path: Path, processes: Processes) -> None:
    output = tmp_path / "perf.json"
    done = processes.run(
        [sys.executable, str(ROOT / "bench/perf.py"), "--smoke", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(output.read_text())
    configs = {row["config"] for row in result["cells"]}
    assert configs == {"direct", "metering-on", "metering-off"}
    assert all(row["errors"] == 0 and row["requests"] > 0 for row in result["cells"])
    streams = [r for r in result["cells"] if r["mode"] == "sse" and r["config"] == "metering-on"]
    assert streams and all(r["ttft_p50_ms"] is not None and "added_ttft_p50_ms" in r for r in streams)
    proxies = [r for r in result["cells"] if r["config"] != "direct"]
    assert all(r["cpu_ms_per_req"] is not None and r["peak_rss_mb"] > 0 for r in proxies)
    assert {t["target"].split(" (")[0] for t in result["targets"]} >= {"added p50 <= 1 ms at concurrency 1"}
    pairs = result["metering_ab"]["pairs"]  # metering on and off took turns, both sides measured in every pair
    assert len(pairs) == 8 and all(p["on_rps"] > 0 and p["off_rps"] > 0 and not p["on_errors"] for p in pairs)
    assert sum("A/B" in t["target"] for t in result["targets"]) == 3  # metering price, added p50 and p99
    assert len(result["latency_ab"]["pairs"]) == 4 and result["latency_ab"]["c10_rps"] > 0
    assert "PASS" in done.stdout or "MISS" in done.stdout


def test_tasks_bench_smoke_run_measures_both_switches_and_samples_memory(tmp_path: Path, processes: Processes) -> None:
    output = tmp_path / "tasks.json"
    argv = [sys.executable, str(ROOT / "bench/tasks.py"), "--trials", "1", "--requests", "60", "--block", "20"]
    argv += ["--memory-tasks", "3000", "--sample-every", "1000", "--max-entries", "1000", "--output", str(output)]
    done = processes.run(argv, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(output.read_text())
    pairs = result["latency"]["pairs"]  # concurrency 1 and 10, every side measured on the same task traffic
    assert [p["concurrency"] for p in pairs] == [1, 10]
    for pair in pairs:
        assert all(
            pair[side]["requests"] == 60 and not pair[side]["errors"] for side in ("direct", "tasks-on", "tasks-off")
        )
        assert pair["tasks-on"]["continuations"] > pair["tasks-on"]["tasks"]
    samples = result["memory"]["tasks-on"]["samples"]
    assert [s["tasks"] for s in samples] == [0, 1000, 2000, 3000] and all(s["rss_mb"] > 0 for s in samples)
    assert result["memory"]["tasks-on"]["flat"] is not None
    assert "added p99" in done.stdout and "RSS flat" in done.stdout
