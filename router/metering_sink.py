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
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST

from metering.cost import ImpossibleUsage, cost, counterfactuals
from metering.ledger import Keys, Ledger, marker_key
from metering.metrics import Metrics
from metering.metrics_group import MetricsGroup
from metering.prices import Price, UnknownModel, price_for
from metering.record import Attempt, Record, Usage
from metering.store import open_store
from metering.tokens import count_prompt, count_text
from metering.usage import usage_from, usage_problem
from router.config import Config
from router.proxy import Completion
from router.sse import StreamState

log = logging.getLogger("routetax.metering")

# Usage beyond these is not believed (a model's output limit is 128K tokens; prompts are bounded by the tier's
# window, else by this): 10^15 tokens would otherwise become a billion dollars on a key's budget, for good.
MAX_OUTPUT_TOKENS = 128_000
MAX_PROMPT_TOKENS = 10_000_000
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
        self._known: dict[str, str | None] = {}  # request id -> the key id that made it
        self._known_before: dict[str, str | None] = {}
        self.regions = {name: tier.region for name, tier in config.tiers.items()}
        self._rejected_logged_at = -10.0
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
            on_dropped=lambda reason, count: self.metrics.ledger_dropped.labels(reason).inc(count),
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

    def expect(self, request_id: str, key_id: str | None = None) -> None:
        """A request started: feedback may name it before its record is written."""
        self._known[request_id] = key_id
        if len(self._known) >= KNOWN_GENERATION:
            self._known_before, self._known = self._known, {}

    def knows(self, request_id: str) -> bool:
        return request_id in self._known or request_id in self._known_before

    async def key_of(self, request_id: str) -> str | None:
        """The key id that made a request: remembered here, else read from its ledger marker (any replica)."""
        for known in (self._known, self._known_before):
            if request_id in known:
                return known[request_id]
        try:
            marker = await self.store.get((self.ledger.keys if self.ledger else Keys()).seen(request_id))
        except Exception:
            log.warning("feedback for %s: the ledger marker could not be read to check its key", request_id)
            return None
        return marker_key(marker)

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
            try:
                usage = self._usage(record, attempt, completion, body, stream)
            except Exception:  # one unreadable answer must not unmeter the request's other attempts
                log.warning("request %s: the answer of tier %s could not be metered", record.request_id, attempt.tier)
                usage = None
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
        self, record: Record, attempt: Attempt, completion: Completion, body: bytes | None, stream: StreamState | None
    ) -> Usage | None:
        """The attempt's usage (and, on the way, the model the upstream says served it)."""
        request = completion.request
        if body is not None:
            parsed = orjson.loads(body)
            attempt.served_model = _model_of(parsed)
            usage = usage_from(parsed)
            if usage is None or self._rejected(attempt, request, parsed, usage):
                return _estimate(request, record.api, _answer_text(parsed), completion.prompt_tokens)
            return usage
        if stream is not None:
            if stream.usage_chunk is not None:
                attempt.served_model = _model_of(stream.usage_chunk)
                usage = usage_from(stream.usage_chunk)
                if usage is not None and not self._rejected(attempt, request, stream.usage_chunk, usage):
                    return usage
            if stream.events or stream.folded:  # cut short, or an upstream that sends no usage: estimate, say so
                if stream.completion_tokens is not None:  # counted off the event loop already (a long stream)
                    prompt = completion.prompt_tokens
                    if prompt is None:
                        prompt = count_prompt(request, record.api)
                    return Usage(prompt_tokens=prompt, completion_tokens=stream.completion_tokens, estimated=True)
                return _estimate(request, record.api, stream.text(), completion.prompt_tokens)
        return None

    def _rejected(self, attempt: Attempt, request: dict[str, Any], data: Any, usage: Usage) -> bool:
        """Is the reported usage beyond belief? Then it is noted on the attempt and estimated instead."""
        spec = self.config.tiers.get(attempt.tier)
        max_prompt = (spec.input_limit() if spec is not None else None) or MAX_PROMPT_TOKENS
        n = request.get("n")
        choices = n if type(n) is int and n > 1 else 1
        problem = usage_problem(data, usage, max_prompt, MAX_OUTPUT_TOKENS * choices)
        if problem is None:
            return False
        attempt.usage_rejected = problem
        now = time.monotonic()
        if now - self._rejected_logged_at >= 10:  # a hostile upstream must not turn into a log storm
            self._rejected_logged_at = now
            log.warning(
                "tier %s reported usage routetax does not believe (%s): estimated instead", attempt.tier, problem
            )
        return True

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


def _model_of(answer: Any) -> str | None:
    """`model` of a chat answer or chunk, or of the response object a Responses event carries."""
    if not isinstance(answer, dict):
        return None
    if isinstance(answer.get("response"), dict):
        answer = answer["response"]
    model = answer.get("model")
    return model if isinstance(model, str) else None


def _answer_text(parsed: Any) -> str:
    try:
        message = parsed["choices"][0]["message"]
        return (message.get("content") or "") + "".join(
            (c.get("function") or {}).get("arguments", "") for c in message.get("tool_calls") or ()
        )
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""


def _estimate(request: dict[str, Any], api: str, completion_text: str, prompt_tokens: int | None = None) -> Usage:
    return Usage(
        prompt_tokens=count_prompt(request, api) if prompt_tokens is None else prompt_tokens,
        completion_tokens=count_text(completion_text),
        estimated=True,
    )
