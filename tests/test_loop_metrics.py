"""routetax's lock-free metric classes expose exactly what prometheus_client's own classes would.

Dashboards, alert rules and the workers' merge read these series by name, suffix and label; the
classes in metering/loop_metrics.py exist only to drop prometheus_client's per-value lock, so any
difference in the scrape — a missing `_created`, an `le` written differently, a series that appears
later — would be a regression a user sees. Each test drives both implementations the same way and
compares the text format (the `_created` timestamps differ by construction and are masked).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from metering import loop_metrics
from metering.metrics import CLASSIFIER_BUCKETS, LATENCY_BUCKETS, Metrics


class Ended(StrEnum):
    RETRY = "retry"


def _exposition(impl) -> str:
    registry = CollectorRegistry()
    requests = impl.Counter("t_requests", "Requests.", ["tier", "status"], registry=registry)
    unlabelled = impl.Counter("t_plain", "A label-less counter, never incremented.", registry=registry)
    spend = impl.Counter("t_spend_usd", "Spend.", registry=registry)
    depth = impl.Gauge("t_depth", "A label-less gauge.", registry=registry)
    breaker = impl.Gauge("t_breaker", "A labelled gauge.", ["tier"], registry=registry)
    never = impl.Gauge("t_never", "A labelled gauge never set: its family has no samples.", ["tier"], registry=registry)
    latency = impl.Histogram("t_latency_seconds", "Latency.", ["tier"], buckets=LATENCY_BUCKETS, registry=registry)
    tiny = impl.Histogram("t_classifier_seconds", "Small buckets.", buckets=CLASSIFIER_BUCKETS, registry=registry)
    huge = impl.Histogram("t_bytes", "Bounds Go writes with an exponent.", buckets=(1e3, 1e6, 2.5e7), registry=registry)
    del unlabelled, never
    requests.labels("nano", "200").inc()
    requests.labels("nano", 200).inc(2)  # an int label value is the same series as its text
    requests.labels("mini", "429").inc(0.5)
    requests.labels("mini", Ended.RETRY).inc()  # an enum of str labels as its value (Attempt.ended_by)
    requests.labels("mini", "retry").inc()
    spend.inc(0.000123)
    depth.set(7)
    depth.inc(2)
    breaker.labels("qwen").set(1)
    breaker.labels("nano").set(0)
    for value in (0.05, 0.07, 2, 200, 0.0):  # on a bound, between bounds, above the last, zero
        latency.labels("nano").observe(value)
    latency.labels("mini").observe(1)
    for value in (0.000004, 0.00001, 0.0009, 0.5):
        tiny.observe(value)
    huge.observe(2e6)
    return re.sub(r"(_created(\{[^}]*\})?) \S+", r"\1 <time>", generate_latest(registry).decode())


def test_exposition_matches_prometheus_client() -> None:
    ours, theirs = _exposition(loop_metrics), _exposition(prometheus_client)
    assert ours == theirs
    assert 't_latency_seconds_bucket{le="0.05",tier="nano"} 2.0' in ours  # cumulative, the bound inclusive
    assert 't_bytes_bucket{le="1e+06"} 0.0' in ours
    assert 't_requests_total{status="200",tier="nano"} 3.0' in ours
    assert 't_requests_total{status="retry",tier="mini"} 2.0' in ours  # the enum and its text: one series


class _Labelled:
    """A labelled update made through `add` / `observe_at` (one call, as `Metrics.observe` does)."""

    def __init__(self, family: Any, values: tuple[Any, ...]) -> None:
        self.family, self.values = family, values

    def inc(self, amount: float = 1) -> None:
        self.family.add(self.values, amount)

    def observe(self, amount: float) -> None:
        self.family.observe_at(self.values, amount)


class _OneCallFamily:
    def __init__(self, family: Any) -> None:
        self.family = family

    def labels(self, *values: Any) -> _Labelled:
        return _Labelled(self.family, values)

    def __getattr__(self, name: str) -> Any:  # the label-less updates: as they are
        return getattr(self.family, name)


class _OneCall:
    """loop_metrics driven through `add` / `observe_at` where `_exposition` calls `labels(...).inc()` / `.observe()`."""

    Gauge = loop_metrics.Gauge

    @staticmethod
    def Counter(*args: Any, **kwargs: Any) -> _OneCallFamily:  # noqa: N802 (stands in for a class)
        return _OneCallFamily(loop_metrics.Counter(*args, **kwargs))

    @staticmethod
    def Histogram(*args: Any, **kwargs: Any) -> _OneCallFamily:  # noqa: N802
        return _OneCallFamily(loop_metrics.Histogram(*args, **kwargs))


def test_one_call_updates_expose_what_labels_then_inc_does() -> None:
    assert _exposition(_OneCall) == _exposition(prometheus_client)


def test_misuse_fails_as_prometheus_client_does() -> None:
    registry = CollectorRegistry()
    counter = loop_metrics.Counter("t_misuse", "Misuse.", ["tier"], registry=registry)
    with pytest.raises(ValueError):
        counter.labels("nano").inc(-1)
    with pytest.raises(ValueError):
        counter.add(("nano",), -1)
    with pytest.raises(ValueError):
        counter.labels("nano", "extra")
    with pytest.raises(ValueError):
        counter.add(("nano", "extra"))
    with pytest.raises(ValueError):  # the same name twice in one registry
        loop_metrics.Counter("t_misuse", "Again.", registry=registry)


def test_routetax_metrics_render_after_observe() -> None:
    """The product's registry uses these classes and renders the families a dashboard reads."""
    from metering.record import Attempt, Record, Usage

    metrics = Metrics()
    usage = Usage(prompt_tokens=1200, cached_tokens=1024, completion_tokens=80)
    attempt = Attempt(tier="nano", model="gpt-5.4-nano", usage=usage, billed=True, cost_usd=0.0001, ttft_ms=20.0)
    metrics.observe(
        Record(request_id="r", started_at=1.0, ended_at=1.2, routed_tier="nano", attempts=[attempt], usage=usage)
    )
    text = metrics.render().decode()
    assert 'routetax_tokens_total{kind="cached",model="gpt-5.4-nano",tier="nano"} 1024.0' in text
    assert 'routetax_ttft_seconds_bucket{le="0.05",tier="nano"} 1.0' in text
    assert "routetax_classifier_cost_usd_total 0.0" in text  # label-less series exist before any request
