"""What `Metrics.observe(record)` costs with routetax's lock-free metric classes (metering/loop_metrics.py),
with prometheus_client's own classes (a mutex per value), and with prometheus_client's multiprocess (mmap)
values: the measurements behind metering/loop_metrics.py and metering/metrics_group.py's choice.

Each variant runs in a fresh interpreter (prometheus_client picks its value class at import, by
PROMETHEUS_MULTIPROC_DIR); the prometheus_client variants swap its classes into metering.metrics before
`Metrics()` is built (here only, never in the product). Each observes the same record 20,000 times after
a warm-up and prints the best of five µs per observe().

Run: .venv/bin/python bench/metrics_values.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import sys
import time
import metering.metrics
from metering.metrics import Metrics
from metering.record import Attempt, Record, Usage
if sys.argv[1] == "prometheus_client":
    import prometheus_client
    metering.metrics.Counter = prometheus_client.Counter
    metering.metrics.Gauge = prometheus_client.Gauge
    metering.metrics.Histogram = prometheus_client.Histogram
usage = Usage(prompt_tokens=1200, cached_tokens=1024, completion_tokens=80)
attempt = Attempt(tier="nano", model="gpt-5.4-nano", usage=usage, billed=True, cost_usd=0.0001, ttft_ms=20.0)
record = Record(request_id="r", started_at=1.0, ended_at=1.2, reasons=["tools_declared"], routed_tier="nano",
                attempts=[attempt], usage=usage, cost_usd=0.0001, counterfactual_usd={"mini": 0.0004, "nano": 0.0001},
                proxy_overhead_ms=0.4, classifier_us=8.0)
metrics = Metrics()
for _ in range(2000):
    metrics.observe(record)
times = []
for _ in range(5):
    t0 = time.perf_counter()
    for _ in range(20000):
        metrics.observe(record)
    times.append(time.perf_counter() - t0)
best = min(times)
print(f"{best / 20000 * 1e6:.2f}")
"""


def run(env: dict[str, str], classes: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, classes], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def main() -> int:
    base = {**os.environ, "PYTHONPATH": str(ROOT)}
    base.pop("PROMETHEUS_MULTIPROC_DIR", None)
    print("routetax's lock-free classes (one process):  ", run(base, "routetax"), "µs per observe()")
    print("prometheus_client's classes (mutex values):  ", run(base, "prometheus_client"), "µs per observe()")
    with tempfile.TemporaryDirectory() as directory:
        mmap = run({**base, "PROMETHEUS_MULTIPROC_DIR": directory}, "prometheus_client")
    print("multiprocess mode (mmap values, per worker):", mmap, "µs per observe()")
    return 0


if __name__ == "__main__":
    sys.exit(main())
