"""What `Metrics.observe(record)` costs with routetax's lock-free values and with prometheus_client's
multiprocess (mmap) values: the measurement behind metering/metrics_group.py's choice.

Each variant runs in a fresh interpreter (the value class is chosen when prometheus_client is imported,
by PROMETHEUS_MULTIPROC_DIR), observes the same record 20,000 times after a warm-up, and prints the
best of five µs per observe().

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
import time
from metering.metrics import Metrics
from metering.record import Attempt, Record, Usage
from prometheus_client import values
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
print(getattr(values.ValueClass, "__name__", type(values.ValueClass).__name__), f"{best / 20000 * 1e6:.2f}")
"""


def run(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def main() -> int:
    base = {**os.environ, "PYTHONPATH": str(ROOT)}
    base.pop("PROMETHEUS_MULTIPROC_DIR", None)
    print("lock-free values (routetax, one process):  ", run(base).split()[-1], "µs per observe()")
    with tempfile.TemporaryDirectory() as directory:
        mmap = run({**base, "PROMETHEUS_MULTIPROC_DIR": directory})
    print("multiprocess mode (mmap values, per worker):", mmap.split()[-1], "µs per observe()")
    return 0


if __name__ == "__main__":
    sys.exit(main())
