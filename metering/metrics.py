"""Every Prometheus metric routetax exports, defined once, with help an on-call human can read.

Labels are bounded: tier, model, class, outcome, reason, kind, baseline, api, result —
never a request id, a user or a key. `observe(record)` updates everything from one
finished record; it runs after the client has its answer.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from metering.record import Record

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1)
CLASSIFIER_BUCKETS = (0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.001)


class Metrics:
    """One registry per process (tests build their own)."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter(
            "routetax_requests",
            "Client requests, by the tier that finally served them.",
            ["tier", "class", "outcome", "api"],
            registry=r,
        )
        self.tokens = Counter(
            "routetax_tokens",
            "Tokens billed by upstreams, by kind (cached is inside prompt, reasoning inside completion).",
            ["tier", "model", "kind"],
            registry=r,
        )
        self.cost = Counter(
            "routetax_cost_usd",
            "Billed spend in USD over all attempts (retries and redos included).",
            ["tier", "class"],
            registry=r,
        )
        self.counterfactual = Counter(
            "routetax_counterfactual_cost_usd",
            "What the same tokens would have cost had every request gone to the baseline tier.",
            ["baseline", "class"],
            registry=r,
        )
        self.attempts = Counter(
            "routetax_attempts", "Upstream attempts by how they ended.", ["tier", "result"], registry=r
        )
        self.retries = Counter(
            "routetax_retries", "Retries on the same tier, by reason.", ["tier", "reason"], registry=r
        )
        self.fallbacks = Counter(
            "routetax_fallbacks",
            "Moves to another tier, by reason (errors, degraded output, open breaker).",
            ["from_tier", "to_tier", "reason"],
            registry=r,
        )
        self.duration = Histogram(
            "routetax_request_duration_seconds",
            "Whole request time seen by the client.",
            ["tier", "class"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "routetax_proxy_overhead_seconds",
            "Time routetax added on top of the upstream calls.",
            buckets=OVERHEAD_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "routetax_ttft_seconds",
            "Time to the first streamed event, per serving tier.",
            ["tier"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.classifier = Histogram(
            "routetax_classifier_seconds", "Time spent classifying one request.", buckets=CLASSIFIER_BUCKETS, registry=r
        )
        self.decisions = Counter(
            "routetax_classifier_decisions",
            "Classifier decisions by class and reason.",
            ["class", "reason"],
            registry=r,
        )
        self.spool_depth = Gauge(
            "routetax_ledger_spool_depth",
            "Ledger records waiting on disk because Redis was unreachable (0 when healthy).",
            registry=r,
        )
        self.ledger_errors = Counter(
            "routetax_ledger_write_errors",
            "Failed ledger writes to Redis (records went to the disk spool).",
            registry=r,
        )
        self.ledger_written = Counter(
            "routetax_ledger_records_written", "Records written to the Redis ledger.", registry=r
        )
        self.breaker_open = Gauge(
            "routetax_breaker_open", "1 while a tier's circuit breaker is open or probing.", ["tier"], registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def observe(self, record: Record) -> None:
        label = record.label
        final = record.final_tier or "none"
        self.requests.labels(final, label, record.outcome, record.api).inc()
        self.decisions.labels(label, record.reasons[0] if record.reasons else "none").inc()
        for attempt in record.attempts:
            self.attempts.labels(attempt.tier, attempt.ended_by).inc()
            if attempt.ended_by == "retry":
                self.retries.labels(attempt.tier, attempt.reason or attempt.error_type or "unknown").inc()
            if attempt.billed:
                self.cost.labels(attempt.tier, label).inc(attempt.cost_usd)
                usage = attempt.usage
                if usage is not None:
                    for kind, value in (
                        ("prompt", usage.prompt_tokens),
                        ("cached", usage.cached_tokens),
                        ("completion", usage.completion_tokens),
                        ("reasoning", usage.reasoning_tokens),
                    ):
                        if value:
                            self.tokens.labels(attempt.tier, attempt.model, kind).inc(value)
        for source, target, reason in fallback_moves(record):
            self.fallbacks.labels(source, target, reason).inc()
        for baseline, value in record.counterfactual_usd.items():
            self.counterfactual.labels(baseline, label).inc(value)
        if record.ended_at and record.started_at:
            self.duration.labels(final, label).observe(max(record.ended_at - record.started_at, 0.0))
        self.overhead.observe(record.proxy_overhead_ms / 1000)
        self.classifier.observe(record.classifier_us / 1e6)
        last = record.attempts[-1] if record.attempts else None
        if last is not None and last.ttft_ms is not None:
            self.ttft.labels(last.tier).observe(last.ttft_ms / 1000)


def fallback_moves(record: Record) -> list[tuple[str, str, str]]:
    """(from, to, reason) for each move of the request to another tier; skipped tiers count as moves."""
    moves = [(tier, record.final_tier or "none", reason) for tier, reason in record.skipped_tiers.items()]
    for before, after in zip(record.attempts, record.attempts[1:], strict=False):
        if after.tier != before.tier:
            moves.append((before.tier, after.tier, before.reason or before.error_type or "error"))
    return moves
