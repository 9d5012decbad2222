"""Counter, Gauge and Histogram whose values are plain floats, exported through prometheus_client's public
collector interface.

prometheus_client's own metric classes guard every value with a mutex and validate labels on each
`labels()` call. routetax updates its metrics only on the event loop's thread (`Metrics.observe` runs
there, after the client has its answer), so the lock guards nothing; it was 40% of `observe()` (11.2 ->
6.5 µs per record, measured). These classes keep that saving without touching prometheus_client's
internals: a value is a float on a small object, a labelled child is found in a dict, and each family is
a collector (`describe()` / `collect()`, registered with `registry.register`) that yields the same samples
prometheus_client's classes would — `_total` and `_created` for counters, cumulative `_bucket`s with `le`,
`_count`, `_sum` and `_created` for histograms, label-less series present from the start — so the
exposition, and metering/metrics_group.py's merge of it, are unchanged (tests/test_loop_metrics.py
compares them with prometheus_client's own classes).

Not thread-safe by design: update them from one thread. A float read or written under the GIL is never
torn, so a scrape from another thread reads whole values.
"""

from __future__ import annotations

import math
import os
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

# prometheus_client's documented switch for the `_created` series, honoured the same way
CREATED = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower() not in ("true", "1", "t")


class CounterValue:
    __slots__ = ("value", "created")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        self.value += amount


class GaugeValue:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def set(self, value: float) -> None:
        self.value = float(value)

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def dec(self, amount: float = 1) -> None:
        self.value -= amount


class HistogramValue:
    __slots__ = ("bounds", "counts", "sum", "created")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0.0] * len(bounds)  # per bucket, not cumulative: summed when collected
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float) -> None:
        self.sum += amount
        self.counts[bisect_left(self.bounds, amount)] += 1  # the first bucket whose bound is >= amount


class _Family:
    """A metric family: its children by label values. Label-less families have their one child from the start."""

    kind = ""

    def __init__(
        self, name: str, documentation: str, labelnames: Iterable[str] = (), registry: CollectorRegistry | None = None
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._children: dict[tuple[Any, ...], Any] = {}
        if not self.labelnames:
            self._only = self._children[()] = self._new_child()
        if registry is not None:
            registry.register(self)  # type: ignore[arg-type]  # a collector by its collect()/describe()

    def labels(self, *values: Any) -> Any:
        """The child for these label values (created on first use, then a dict lookup)."""
        child = self._children.get(values)
        if child is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name}: expected {len(self.labelnames)} label values, got {len(values)}")
            as_text = tuple(str(v) for v in values)  # 429 and "429" are one series, as in prometheus_client
            child = self._children.get(as_text) or self._new_child()
            self._children[as_text] = self._children[values] = child
        return child

    def _new_child(self) -> Any:
        raise NotImplementedError

    def _series(self) -> Iterator[tuple[dict[str, str], Any]]:
        """Each child once, with its labels (a child may be filed under its values and under their text)."""
        for values, child in list(self._children.items()):  # one C-level copy: safe if another thread scrapes
            if all(type(v) is str for v in values):
                yield dict(zip(self.labelnames, values, strict=True)), child

    def describe(self) -> list[Metric]:
        return [Metric(self.name, self.documentation, self.kind)]

    def collect(self) -> list[Metric]:
        family = Metric(self.name, self.documentation, self.kind)
        for labels, child in self._series():
            self._samples(family, labels, child)
        return [family]

    def _samples(self, family: Metric, labels: dict[str, str], child: Any) -> None:
        raise NotImplementedError


class Counter(_Family):
    kind = "counter"

    def _new_child(self) -> CounterValue:
        return CounterValue()

    def inc(self, amount: float = 1) -> None:
        self._only.inc(amount)

    def add(self, values: tuple[Any, ...], amount: float = 1) -> None:
        """`labels(*values).inc(amount)` in one call: metering counts a dozen series per request this way, and the
        child is found by one dict lookup rather than two calls."""
        child = self._children.get(values)
        if child is None:
            child = self.labels(*values)
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        child.value += amount

    def _samples(self, family: Metric, labels: dict[str, str], child: CounterValue) -> None:
        family.add_sample(self.name + "_total", labels, child.value)
        if CREATED:
            family.add_sample(self.name + "_created", labels, child.created)


class Gauge(_Family):
    kind = "gauge"

    def _new_child(self) -> GaugeValue:
        return GaugeValue()

    def set(self, value: float) -> None:
        self._only.set(value)

    def inc(self, amount: float = 1) -> None:
        self._only.inc(amount)

    def dec(self, amount: float = 1) -> None:
        self._only.dec(amount)

    def _samples(self, family: Metric, labels: dict[str, str], child: GaugeValue) -> None:
        family.add_sample(self.name, labels, child.value)


class Histogram(_Family):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Iterable[str] = (),
        registry: CollectorRegistry | None = None,
        buckets: Sequence[float] = (),
    ) -> None:
        bounds = sorted(float(b) for b in buckets)
        if not bounds or bounds[-1] != math.inf:
            bounds.append(math.inf)
        self.bounds = tuple(bounds)
        self._les = tuple(go_float(b) for b in self.bounds)
        super().__init__(name, documentation, labelnames, registry)

    def _new_child(self) -> HistogramValue:
        return HistogramValue(self.bounds)

    def observe(self, amount: float) -> None:
        self._only.observe(amount)

    def observe_at(self, values: tuple[Any, ...], amount: float) -> None:
        """`labels(*values).observe(amount)` in one call (see `Counter.add`)."""
        child = self._children.get(values)
        if child is None:
            child = self.labels(*values)
        child.observe(amount)

    def _samples(self, family: Metric, labels: dict[str, str], child: HistogramValue) -> None:
        total = 0.0
        for le, count in zip(self._les, child.counts, strict=True):
            total += count
            family.add_sample(self.name + "_bucket", {**labels, "le": le}, total)
        family.add_sample(self.name + "_count", labels, total)
        family.add_sample(self.name + "_sum", labels, child.sum)
        if CREATED:
            family.add_sample(self.name + "_created", labels, child.created)


def go_float(value: float) -> str:
    """A bucket bound as Prometheus writes `le` (Go's float formatting: `+Inf`, `0.05`, `1e+06`)."""
    if value == math.inf:
        return "+Inf"
    text = repr(float(value))
    dot = text.find(".")
    if value > 0 and dot > 6:  # Go switches to an exponent sooner than Python does
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text
