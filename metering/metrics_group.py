"""Prometheus metrics of a group of worker processes (`routetax serve --workers N`), summed into one scrape.

Each worker keeps its own registry, updated on its event loop exactly as a single process does (the
lock-free classes of metering/loop_metrics.py), and publishes a snapshot of it — every family with its
samples — to a file in the group's directory: once a second, on every scrape it answers, and once more
when it shuts down. The worker that receives a scrape merges every snapshot:

- counters, histograms and summaries are summed over every snapshot ever written in the group's life,
  the final ones of workers that exited or were replaced included, so the group's counters never go
  backwards when a worker restarts (`*_created` samples take the earliest);
- gauges follow `GAUGE_MODES`: `max` for figures every worker exports alike (configured costs, budgets),
  `own` for what the answering worker sets as it answers (open breakers, which the workers share through
  Redis), `sum` for quantities that add up (records waiting in the spool), and otherwise each
  live worker's value with a `worker` label — the routing-tax gauges are each worker's own window of
  traffic, as they are each replica's, and the alert rules aggregate them with max/avg.

Why not prometheus_client's multiprocess mode: it replaces every value with an mmap-backed one that takes
a lock and writes the file on every update, which would undo the lock-free values `observe()` relies on
(docs/performance.md measures both), needs a `multiprocess_mode` on every gauge, and has no way to keep
a per-worker label on the gauges that are per-worker. Snapshots cost a worker one render per second, off
the request path; the price is that another worker's figures in a scrape are up to a second old.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric

GAUGE_MODES: dict[str, str] = {
    "routetax_router_hour_usd": "max",
    "routetax_key_budget_usd": "max",
    # set when a worker answers a scrape; the workers' breakers mirror each other through Redis within a
    # second, so the answering worker's own value is the group's (another's may be from a scrape long ago)
    "routetax_breaker_open": "own",
    "routetax_ledger_spool_depth": "sum",
}
SUMMED = ("counter", "histogram", "summary", "gaugehistogram")


class MetricsGroup:
    """One worker's side of the group: publish its registry, render the group's totals."""

    def __init__(self, directory: str | os.PathLike[str], worker: int, registry: CollectorRegistry) -> None:
        self.directory = Path(directory)
        self.worker = worker
        self.registry = registry
        self.path = self.directory / f"worker-{worker}-{os.getpid()}.json"

    def publish(self) -> None:
        """Write this worker's snapshot (atomically: a scrape never reads half a file)."""
        families = [
            {
                "name": family.name,
                "type": family.type,
                "help": family.documentation,
                "unit": family.unit,
                "samples": [(s.name, s.labels, s.value) for s in family.samples],
            }
            for family in self.registry.collect()
        ]
        data = orjson.dumps({"worker": self.worker, "pid": os.getpid(), "at": time.time(), "families": families})
        partial = self.path.with_suffix(".tmp")
        partial.write_bytes(data)
        os.replace(partial, self.path)

    def render(self) -> bytes:
        """The group's metrics in Prometheus text format (this worker's own figures are current)."""
        self.publish()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Merged(read_snapshots(self.directory), self.worker))  # type: ignore[arg-type]
        return generate_latest(registry)


def read_snapshots(directory: Path) -> list[dict[str, Any]]:
    snapshots = []
    for path in sorted(directory.glob("worker-*.json")):
        try:
            snapshots.append(orjson.loads(path.read_bytes()))
        except (OSError, orjson.JSONDecodeError):
            continue  # replaced between the listing and the read: its successor is in the list
    return snapshots


def merge(snapshots: list[dict[str, Any]], own: int | None = None) -> list[Metric]:
    """The group's families from its workers' snapshots (see the module docstring for the rules); `own` is
    the worker answering the scrape."""
    latest: dict[int, dict[str, Any]] = {}  # per worker index, its newest snapshot: the live process
    for snapshot in snapshots:
        known = latest.get(snapshot["worker"])
        if known is None or snapshot["at"] > known["at"]:
            latest[snapshot["worker"]] = snapshot
    live = {id(s) for s in latest.values()}
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for snapshot in snapshots:
        for family in snapshot["families"]:
            name, kind = family["name"], family["type"]
            summed = kind in SUMMED
            if not summed and id(snapshot) not in live:
                continue  # a gauge of a process that is gone
            mode = GAUGE_MODES.get(name, "worker")
            if not summed and mode == "own" and snapshot["worker"] != own:
                continue
            if name not in families:
                families[name] = Metric(name, family["help"], kind, family["unit"])
                values[name] = {}
            merged = values[name]
            for sample_name, labels, value in family["samples"]:
                if not summed and mode == "worker":
                    labels = {**labels, "worker": str(snapshot["worker"])}
                key = (sample_name, tuple(sorted(labels.items())))
                before = merged.get(key)
                if before is None:
                    merged[key] = value
                elif sample_name.endswith("_created"):
                    merged[key] = min(before, value)
                elif summed or mode == "sum":
                    merged[key] = before + value
                else:  # max; a per-worker sample is unique to its worker
                    merged[key] = max(before, value)
    for name, family in families.items():
        for (sample_name, labels), value in values[name].items():
            family.add_sample(sample_name, dict(labels), value)
    return list(families.values())


class _Merged:
    def __init__(self, snapshots: list[dict[str, Any]], own: int) -> None:
        self._snapshots = snapshots
        self._own = own

    def collect(self) -> Iterator[Metric]:
        yield from merge(self._snapshots, self._own)
