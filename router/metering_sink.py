"""Where finished records go: usage and cost filled in, metrics updated, ledger appended.

The proxy calls the sink once per request, after the client has its answer (a background
task for JSON, the end of the relay for streams). The sink does the parsing the hot path
skipped — reading `usage` out of the upstream's bytes, or estimating it with the tokenizer
when there is none (and marking the record) — prices every billed attempt and the
counterfactual baselines, updates the metrics, and hands the record to the ledger, which
never makes anyone wait on Redis.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST

from metering.cost import ImpossibleUsage, cost, counterfactuals
from metering.ledger import Ledger
from metering.metrics import Metrics
from metering.metrics_group import MetricsGroup
from metering.prices import Price, UnknownModel, price_for
from metering.record import Attempt, Record, Usage
from metering.store import open_store
from metering.tokens import count_prompt, count_text
from metering.usage import usage_from
from router.config import Config
from router.proxy import Completion
from router.sse import StreamState

log = logging.getLogger("routetax.metering")

KNOWN_GENERATION = 20_000  # request ids per generation remembered for early feedback (the ledger answers later)


def tier_prices(config: Config) -> dict[str, Price | None]:
    prices: dict[str, Price | None] = {}
    for name, tier in config.tiers.items():
        override = tier.price.model_dump() if tier.price is not None else None
        try:
            prices[name] = price_for(tier.model, override, gpu_hour_usd=tier.gpu_hour_usd)
        except UnknownModel:
            log.warning(
                "tier %s: model %s has no price in the map and no `price` override: costed at 0", name, tier.model
            )
            prices[name] = None
    return prices


class MeteringSink:
    """Completes records and hands them to metrics and the ledger."""

    def __init__(self, config: Config, metrics: Metrics | None = None, keep_recent: int = 256) -> None:
        self.config = config
        self.metrics = metrics or Metrics()
        self.recent: deque[Record] = deque(maxlen=keep_recent)
        self.durable = config.store.redis_url is not None
        self.enabled = config.metering.enabled
        self.prices = tier_prices(config)
        self.store: Any = None
        self.ledger: Ledger | None = None
        self.listeners: list[Callable[[Record], None]] = []  # after the record is out
        self.enrichers: list[Callable[[Record], None]] = []  # before metrics and the ledger see it
        # Recent request ids, so feedback is accepted before the ledger has the record (the ledger's own
        # markers answer after that): two generations of sets, at most 2 x KNOWN_GENERATION ids (~4 MB).
        self._known: set[str] = set()
        self._known_before: set[str] = set()
        self.regions = {name: tier.region for name, tier in config.tiers.items()}
        self.metrics.set_assumptions(config.report.router_hour_usd, config.report.classifier_usd_per_request)
        self.group: MetricsGroup | None = None  # `serve --workers N`: /metrics answers for the whole group
        self._publisher: asyncio.Task[None] | None = None

    @classmethod
    def for_config(cls, config: Config) -> MeteringSink:
        return cls(config)

    async def start(self) -> None:
        # The tokenizer loads in ~0.4 s on first use: at start, not on the loop when the first stream is cut
        # or the first long stream folds its events (a 0.4 s stall for every open stream, seen with py-spy).
        count_text("warm")
        self.store = open_store(self.config.store.redis_url, cluster=self.config.store.cluster)
        if self.group is not None:
            self._publisher = asyncio.create_task(self._publish(), name="routetax-metrics-publish")
        if not self.enabled:
            return
        # The in-process store forgets everything at exit, so a spool on disk would only replay into
        # nothing: it gets a private temporary directory (and two demo proxies never share one).
        spool_dir = self.config.store.spool_dir if self.durable else tempfile.mkdtemp(prefix="routetax-spool-")
        self.ledger = Ledger(
            self.store,
            spool_dir,
            on_spool_depth=self.metrics.spool_depth.set,
            on_write_error=self.metrics.ledger_errors.inc,
            on_written=self.metrics.ledger_written.inc,
        )
        await self.ledger.start()

    async def aclose(self) -> None:
        if self.ledger is not None:
            await self.ledger.aclose()
        if self.group is not None:
            if self._publisher is not None:
                self._publisher.cancel()
            self.group.publish()  # the last figures, ledger flush included: the group's counters keep them
        if self.store is not None:
            await self.store.aclose()

    def expect(self, request_id: str) -> None:
        """A request started: feedback may name it before its record is written."""
        self._known.add(request_id)
        if len(self._known) >= KNOWN_GENERATION:
            self._known_before, self._known = self._known, set()

    def knows(self, request_id: str) -> bool:
        return request_id in self._known or request_id in self._known_before

    async def store_ok(self) -> bool:
        try:
            return bool(await self.store.ping())
        except Exception:
            return False

    def render_metrics(self) -> tuple[bytes, str]:
        if self.group is not None:
            return self.group.render(), CONTENT_TYPE_LATEST
        return self.metrics.render(), CONTENT_TYPE_LATEST

    async def _publish(self, every_s: float = 1.0) -> None:
        """Once a second, this worker's figures for the group's scrapes (answered by any worker)."""
        assert self.group is not None
        while True:
            await asyncio.sleep(every_s)
            try:
                self.group.publish()
            except OSError as exc:
                log.warning("could not publish this worker's metrics: %s", exc)

    def __call__(self, record: Record, completion: Completion) -> None:
        if not self.enabled:
            return
        try:
            self._complete(record, completion)
            for enrich in self.enrichers:
                enrich(record)
            self.metrics.observe(record)
        except Exception:  # metering must never take the proxy down; the record still goes out
            log.exception("could not complete metering for request %s", record.request_id)
        if self.ledger is not None:
            self.ledger.submit(record)
        self.recent.append(record)
        for listener in self.listeners:
            listener(record)

    def _complete(self, record: Record, completion: Completion) -> None:
        usage: Usage | None = None
        for attempt, body, stream in zip(record.attempts, completion.bodies, completion.streams, strict=True):
            usage = self._usage(record, completion.request, body, stream)
            if usage is not None:
                attempt.usage, attempt.billed = usage, True
                self._price(attempt, usage)
        record.usage = usage
        estimated, cost_usd = False, 0.0
        for attempt in record.attempts:  # a loop, not any() and sum() over generators: this runs per request
            if attempt.usage is not None and attempt.usage.estimated:
                estimated = True
            if attempt.billed:
                cost_usd += attempt.cost_usd
        record.estimated, record.cost_usd = estimated, cost_usd
        if usage is not None:
            record.counterfactual_usd = counterfactuals(usage, self.prices, self.regions)

    def _usage(
        self, record: Record, request: dict[str, Any], body: bytes | None, stream: StreamState | None
    ) -> Usage | None:
        if body is not None:
            parsed = orjson.loads(body)
            usage = usage_from(parsed)
            if usage is None:
                return _estimate(request, record.api, _answer_text(parsed))
            return usage
        if stream is not None:
            if stream.usage_chunk is not None:
                return usage_from(stream.usage_chunk)
            if stream.events or stream.folded:  # cut short, or no usage sent: estimate, and say so
                return Usage(
                    prompt_tokens=count_prompt(request, record.api),
                    completion_tokens=stream.estimated_completion_tokens(),
                    estimated=True,
                )
        return None

    def _price(self, attempt: Attempt, usage: Usage) -> None:
        price = self.prices.get(attempt.tier)
        if price is None:
            return
        try:
            # Self-hosted tiers cost 0 per token here; their GPU-hours are amortised over a whole window
            # by the report (cost-model §3), which a running count per request cannot do exactly.
            breakdown = cost(usage, price, service_tier=usage.service_tier, region=self.regions[attempt.tier])
        except ImpossibleUsage as exc:
            log.warning("tier %s reported impossible usage (%s): costed at 0", attempt.tier, exc)
            return
        attempt.cost_usd = breakdown.total_usd


def _answer_text(parsed: Any) -> str:
    try:
        message = parsed["choices"][0]["message"]
        return (message.get("content") or "") + "".join(
            (c.get("function") or {}).get("arguments", "") for c in message.get("tool_calls") or ()
        )
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""


def _estimate(request: dict[str, Any], api: str, completion_text: str) -> Usage:
    return Usage(
        prompt_tokens=count_prompt(request, api), completion_tokens=count_text(completion_text), estimated=True
    )
