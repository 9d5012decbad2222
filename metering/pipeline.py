"""The finished-request pipeline: where a finished record goes, stage by stage, in one written order.

The proxy hands every finished request to the pipeline once, after the client has its answer
(a background task for JSON, the end of the relay for streams). The stages run in this order,
and each one needs what the ones before it wrote on the record:

1. complete usage — read `usage` out of the upstream's bytes (the hot path skipped that), or
   estimate it with the tokenizer when there is none or it is beyond belief, and say so on
   the record (`estimated`, `usage_rejected`). Every later stage counts these tokens.
2. price — every billed attempt, the request's total, the counterfactual baselines. Needs usage.
3. settle the key — charge the client's virtual key its real cost and release its
   reservation (a router concern: the gate). Needs the price.
4. cache loss — the cached-input discount the conversation forfeited by moving tier (a router
   concern: cache affinity, which also remembers where the conversation now is). Needs usage
   and prices; writes `cache_loss_usd`, which the next two stages read (the base spend).
5. metrics — the Prometheus counters, in process.
6. ledger — the record, complete, to the Redis ledger (background, batched, spooled to disk
   when Redis is down); its hourly rollups carry the cost and the cache loss.
   Then the access line (`log.access`, metering.logs.access): the ledger record's own figures, onto the
   log's bounded queue, never waiting on stderr.
7. policy — the auto-mode observer (a router concern) sees the record as the ledger has it.
   It runs even when an earlier stage failed, as the ledger does: a record is never lost.
8. final exchange — the optional judge (a router concern, docs/task-records.md, the judge) keeps the last exchange
   of the tasks it samples, for grading them once they end. It needs the record's task and the
   `Completion` (the request and the answer), and nothing after it reads what it keeps.

The router supplies only its own stages (3, 4, 7, 8), each in a named slot of `RouterStages`, so a
stage cannot be registered in the wrong place: with the old lists of enrichers and listeners,
putting the cache-affinity hook among the listeners would have dropped cache loss from the
ledger's rollups without a sound. The pipeline is built from `MeteringSettings`, metering's own
small view of the configuration: metering never imports the router.

The pipeline does not open the store it writes to: the app's lifespan opens the one store of the
process, hands it to `start` (and to the router's parts that keep state in it), and closes it after
`aclose` has flushed the ledger. Nobody borrows the store from here.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST

from metering.completion import Completion, RelayedStream
from metering.cost import ImpossibleUsage, billed, cost, counterfactuals
from metering.ledger import Ledger, task_member
from metering.logs import access
from metering.logs.limiter import RateLimitedLog
from metering.metrics import Metrics
from metering.metrics_group import MetricsGroup
from metering.prices import Price
from metering.record import Attempt, Record, Usage
from metering.store import Store
from metering.tasks import TaskBook, TaskRecord, TaskSettings
from metering.tokens import count_prompt, count_text
from metering.usage import answer_usage, usage_from, usage_problem

log = logging.getLogger("routetax.metering")

# Usage beyond these is not believed (a model's output limit is 128K tokens; prompts are bounded by the tier's
# window, else by this): 10^15 tokens would otherwise become a billion dollars on a key's budget, for good.
MAX_OUTPUT_TOKENS = 128_000
MAX_PROMPT_TOKENS = 10_000_000
MAX_EMBEDDING_PROMPT_TOKENS = 300_000  # OpenAI's limit on one embeddings request, all inputs summed; it writes none
KNOWN_GENERATION = 20_000  # request ids per generation remembered for early feedback (the ledger answers later)

UsageReader = Callable[[Any], Usage | None]  # an upstream's answer, chunk or event -> its usage, or None
RecordStage = Callable[[Record], None]
ExchangeStage = Callable[[Record, Completion], None]  # a stage that reads the answer too, not only the record


@dataclass(frozen=True, slots=True)
class MeteringSettings:
    """What metering needs to know of the deployment, per tier and in all (the router builds it from its config)."""

    enabled: bool = True
    spool_dir: str = "var/spool"  # where records wait while a durable store cannot take them
    spool_max_bytes: int | None = None  # the spool's size cap (None: the disk's free space)
    spool_reserve_bytes: int = 0  # while Redis is down, requests are admitted only with this much room left
    prices: Mapping[str, Price | None] = field(default_factory=dict)  # tier -> price (None: costed at 0)
    # embedding model -> price: an embeddings request is priced at the model it named, whichever tier served it
    embedding_prices: Mapping[str, Price | None] = field(default_factory=dict)
    regions: Mapping[str, str | None] = field(default_factory=dict)  # tier -> regional processing ("us", "eu")
    input_limits: Mapping[str, int | None] = field(default_factory=dict)  # tier -> its window, if known
    # tier -> how to read usage out of its answers; a tier not named is read with `usage_from` (every shape known)
    read_usage: Mapping[str, UsageReader] = field(default_factory=dict)
    tasks: TaskSettings = field(default_factory=TaskSettings)  # when a task ends, what counts as its failure
    access_log: bool = False  # `log.access`: an access line per finished request (metering.logs.access)
    router_hour_usd: float = 0.0  # report assumptions, exported as metrics
    classifier_usd_per_request: float = 0.0


@dataclass(frozen=True, slots=True)
class RouterStages:
    """The pipeline's stages that are router concerns, one named slot each (None: nothing to do there)."""

    settle_key: RecordStage | None = None  # stage 3: charge the key's budget the record's real cost
    cache_loss: RecordStage | None = None  # stage 4: set `cache_loss_usd`, remember the conversation's tier
    policy: RecordStage | None = None  # stage 7: the auto-mode observer
    final_exchange: ExchangeStage | None = None  # stage 8: the judge keeps a sampled task's last exchange


class MeteringPipeline:
    """Runs the stages on each finished record; owns the ledger and the metrics (not the store) while the app runs."""

    def __init__(
        self,
        settings: MeteringSettings,
        metrics: Metrics | None = None,
        keep_recent: int = 256,
        router_stages: RouterStages | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.router_stages = router_stages or RouterStages()
        self.recent: deque[Record] = deque(maxlen=keep_recent)
        self.enabled = settings.enabled
        self.prices = settings.prices
        self.regions = settings.regions
        self.ledger: Ledger | None = None
        self.tasks: TaskBook | None = None  # closes tasks, takes feedback on them (while the app runs)
        self._task_listeners: list[Callable[[list[TaskRecord]], None]] = []
        # Recent request ids, so feedback is accepted before the ledger has the record (the ledger's own
        # markers answer after that): two generations of dicts, at most 2 x KNOWN_GENERATION ids (~5 MB).
        self._known: dict[str, tuple[str | None, str | None]] = {}  # request id -> (its key id, its task id)
        self._known_before: dict[str, tuple[str | None, str | None]] = {}
        # recent tasks (`task_member`: a string, not a tuple — one object fewer per request for the collector to
        # track, and a table of strings it never walks), two generations too
        self._tasks: dict[str, None] = {}
        self._tasks_before: dict[str, None] = {}
        self._warnings = RateLimitedLog(log, burst=1)  # a hostile upstream must not turn into a log storm
        self.metrics.set_assumptions(settings.router_hour_usd, settings.classifier_usd_per_request)
        self.group: MetricsGroup | None = None  # `serve --workers N`: /metrics answers for the whole group
        self._publisher: asyncio.Task[None] | None = None

    # -- the stages ----------------------------------------------------------------------------

    def __call__(self, record: Record, completion: Completion) -> None:
        if not self.enabled:
            if self.settings.access_log:  # unmetered: the line says what was served, without tokens or cost
                access.finished(record)
            return
        stages = self.router_stages
        try:
            self._complete_usage(record, completion)
            self._price(record, completion)
            if stages.settle_key is not None:
                stages.settle_key(record)
            if stages.cache_loss is not None and record.is_task:  # embeddings have no conversation to keep
                stages.cache_loss(record)
            self.metrics.observe(record)
        except Exception:  # metering must never take the proxy down; the record still goes out
            log.exception("could not complete metering for request %s", record.request_id)
        if self.ledger is not None:
            self.ledger.submit(record)
        if self.settings.access_log:  # after the ledger: the access line, the ledger record's own figures (log.access)
            access.finished(record)
        if record.task_id is not None:  # the task may be known only now: feedback naming the request finds it
            self.expect(record.request_id, record.key_id, record.task_id)
        self.recent.append(record)
        if stages.policy is not None:
            stages.policy(record)
        if stages.final_exchange is not None and record.task_id is not None:
            try:
                stages.final_exchange(record, completion)
            except Exception:  # the judge is measurement: it never costs a record
                log.exception("could not keep the final exchange of request %s", record.request_id)

    def _complete_usage(self, record: Record, completion: Completion) -> None:
        """Stage 1: every attempt's usage (read, or estimated and marked); the final attempt's is the record's."""
        usage: Usage | None = None
        estimated = False
        for index, (attempt, body, stream) in enumerate(
            zip(record.attempts, completion.bodies, completion.streams, strict=True)
        ):
            try:
                usage = self._usage(record, attempt, completion, index, body, stream)
            except Exception:  # one unreadable answer must not unmeter the request's other attempts
                log.warning("request %s: the answer of tier %s could not be metered", record.request_id, attempt.tier)
                usage = None
            if usage is not None:
                attempt.usage, attempt.billed = usage, True
                if usage.estimated:
                    estimated = True
        record.usage, record.estimated = usage, estimated

    def _price(self, record: Record, completion: Completion) -> None:
        """Stage 2: the cost of every billed attempt, their sum, and what the request would have cost elsewhere.

        An attempt `quote` priced already (the cost on the answer: the same usage, the same price) keeps that
        figure; only the others are priced here."""
        cost_usd = 0.0
        embeddings = record.api == "embeddings"  # priced at the embedding model; no counterfactual on chat tiers
        for index, attempt in enumerate(record.attempts):  # a loop, not sum() over a generator: runs per request
            usage = attempt.usage
            if attempt.billed and usage is not None:
                quoted = completion.quoted_price(index, usage)
                if quoted is None:
                    self._price_attempt(attempt, usage, self._price_of(attempt, embeddings))
                else:
                    attempt.cost_usd, estimate = quoted
                    if estimate is not None:
                        attempt.price_estimate = estimate
                cost_usd += attempt.cost_usd
        record.cost_usd = cost_usd
        if record.usage is not None and record.is_task:  # what a task's step would have cost on each tier
            record.counterfactual_usd = counterfactuals(record.usage, self.prices, self.regions)

    def _usage(
        self,
        record: Record,
        attempt: Attempt,
        completion: Completion,
        index: int,
        body: bytes | None,
        stream: RelayedStream | None,
    ) -> Usage | None:
        """The attempt's usage (and, on the way, the model the upstream says served it).

        What the request path already did is not done again: the answer's JSON as the degraded check parsed it,
        and the usage `quote` read and believed (the same reader and limits as here: the same usage)."""
        request = completion.request
        quoted = completion.quoted_usage(index)
        read_usage = self.settings.read_usage.get(attempt.tier, usage_from)
        if body is not None:
            parsed = completion.answer(index)
            if parsed is None:
                parsed = orjson.loads(body)
            attempt.served_model = _model_of(parsed)
            if quoted is not None:
                return quoted
            usage = read_usage(parsed)
            if usage is None or self._rejected(record, attempt, request, parsed, usage):
                return _estimate(request, record.api, _answer_text(parsed), completion.prompt_tokens)
            return usage
        if stream is not None:
            usage_chunk = stream.usage_chunk
            if usage_chunk is not None:
                attempt.served_model = _model_of(usage_chunk)
                if quoted is not None:
                    return quoted
                usage = read_usage(usage_chunk)
                if usage is not None and not self._rejected(record, attempt, request, usage_chunk, usage):
                    return usage
            if stream.events or stream.folded:  # cut short, or an upstream that sends no usage: estimate, say so
                if stream.completion_tokens is not None:  # counted off the event loop already (a long stream)
                    prompt = completion.prompt_tokens
                    if prompt is None:
                        prompt = count_prompt(request, record.api)
                    return Usage(prompt_tokens=prompt, completion_tokens=stream.completion_tokens, estimated=True)
                return _estimate(request, record.api, stream.text(), completion.prompt_tokens)
        return None

    def _price_of(self, attempt: Attempt, embeddings: bool) -> Price | None:
        """The price an attempt is billed at: its tier's, or for embeddings the embedding model's it named."""
        return self.settings.embedding_prices.get(attempt.model) if embeddings else self.prices.get(attempt.tier)

    def _limits(self, record: Record, attempt: Attempt, request: dict[str, Any]) -> tuple[int, int]:
        """(most prompt, most completion tokens) an attempt's usage can believably report."""
        if record.api == "embeddings":  # the tier's window is its chat model's; an embedding writes no tokens
            return MAX_EMBEDDING_PROMPT_TOKENS, 0
        n = request.get("n")
        max_completion = MAX_OUTPUT_TOKENS * (n if type(n) is int and n > 1 else 1)
        return self.settings.input_limits.get(attempt.tier) or MAX_PROMPT_TOKENS, max_completion

    def _rejected(self, record: Record, attempt: Attempt, request: dict[str, Any], data: Any, usage: Usage) -> bool:
        """Is the reported usage beyond belief? Then it is noted on the attempt and estimated instead."""
        problem = usage_problem(data, usage, *self._limits(record, attempt, request))
        if problem is None:
            return False
        attempt.usage_rejected = problem
        self._warnings.warning(
            "tier %s reported usage routetax does not believe (%s): estimated instead",
            attempt.tier,
            problem,
            key="usage_rejected",
            extra={"event": "usage_rejected", "tier": attempt.tier, "problem": problem},
        )
        return True

    def _price_attempt(self, attempt: Attempt, usage: Usage, price: Price | None) -> None:
        if price is None:
            return
        try:
            # Self-hosted tiers cost 0 per token here; their GPU-hours are amortised over a whole window
            # by the report (docs/routing-tax.md), which a running count per request cannot do exactly.
            breakdown = cost(usage, price, service_tier=usage.service_tier, region=self.regions.get(attempt.tier))
        except ImpossibleUsage as exc:
            log.warning("tier %s reported impossible usage (%s): costed at 0", attempt.tier, exc)
            return
        attempt.cost_usd = breakdown.total_usd
        if breakdown.estimate is not None:  # no published rate covers it: billed all the same, and marked
            attempt.price_estimate = breakdown.estimate

    # -- the cost on the answer ---------------------------------------------------------------------

    def quote(self, record: Record, completion: Completion) -> float | None:
        """The request's cost so far from the usage its answers reported, priced as stage 2 prices it — for the
        answer itself (`x-routetax-cost-usd`), before it leaves. Called on the request path, so it reads only the
        usage (a JSON answer's through `answer_usage`; a stream's usage chunk is parsed already) and prices it
        with `billed`, the total (and estimate) stage 2's `cost()` gives without its breakdown — which stage 2
        then takes as it is, with the usage, rather than pricing the same usage at the same price again.

        None when a billed attempt reported no usage, or usage beyond belief: stage 1 estimates those (and marks
        the record), which the request path cannot afford — the caller then says nothing rather than guess. So
        when a number is given, it is the one the ledger and the key's budget get.
        """
        if not self.enabled:
            return None
        total = 0.0
        embeddings = record.api == "embeddings"
        quoted = completion.quoted = [None] * len(record.attempts)  # what stage 1 then takes as it is
        priced = completion.priced = [None] * len(record.attempts)  # and stage 2
        for index, (attempt, body, stream) in enumerate(
            zip(record.attempts, completion.bodies, completion.streams, strict=True)
        ):
            if body is not None:
                data = completion.answer(index)  # the degraded check's parse; else only the usage, cut out
                if data is None:
                    data = answer_usage(body)
            elif stream is not None:
                data = stream.usage_chunk
                if data is None and not (stream.events or stream.folded):
                    continue  # nothing was streamed: not billed
            else:
                continue  # no answer (an error, a timeout): not billed
            if data is None:
                return None
            usage = self.settings.read_usage.get(attempt.tier, usage_from)(data)
            if usage is None or usage_problem(data, usage, *self._limits(record, attempt, completion.request)):
                return None
            quoted[index] = usage
            price = self._price_of(attempt, embeddings)
            if price is not None:
                try:
                    priced[index] = billed_at = billed(usage, price, self.regions.get(attempt.tier))
                except ImpossibleUsage:
                    return None
                total += billed_at[0]
        return total

    # -- lifetime: the ledger, the metrics group ------------------------------------------------

    async def start(self, store: Store, *, durable: bool) -> None:
        """Start writing to `store`, which the caller opened and closes after `aclose()`.

        `durable`: the store outlives this process (a Redis). The in-process store does not, so records
        are not spooled where a later process would find them.
        """
        # The tokenizer loads in ~0.4 s on first use: at start, not on the loop when the first stream is cut
        # or the first long stream folds its events (a 0.4 s stall for every open stream, seen with py-spy).
        count_text("warm")
        if self.group is not None:
            self._publisher = asyncio.create_task(self._publish(), name="routetax-metrics-publish")
        if not self.enabled:
            return
        # The in-process store forgets everything at exit, so a spool on disk would only replay into
        # nothing: it gets a private temporary directory (and two demo proxies never share one).
        spool_dir = self.settings.spool_dir if durable else tempfile.mkdtemp(prefix="routetax-spool-")
        self.ledger = Ledger(
            store,
            spool_dir,
            on_spool_depth=self.metrics.spool_depth.set,
            on_write_error=self.metrics.ledger_errors.inc,
            on_written=self.metrics.ledger_written.inc,
            on_dropped=lambda reason, count: self.metrics.ledger_dropped.labels(reason).inc(count),
            task_idle_s=self.settings.tasks.idle_s,
            task_grace_s=self.settings.tasks.grace_s,
            spool_max_bytes=self.settings.spool_max_bytes if durable else None,
            reserve_bytes=self.settings.spool_reserve_bytes if durable else 0,
        )
        await self.ledger.start()
        if self.settings.tasks.enabled:
            self.tasks = TaskBook(store, self.settings.tasks, on_closed=self.metrics.observe_task)
            for listener in self._task_listeners:
                self.tasks.add_closed_listener(listener)
            await self.tasks.start()

    async def aclose(self) -> None:
        if self.tasks is not None:  # open tasks stay open in the store: closed when due, by this or a later process
            await self.tasks.aclose()
        if self.ledger is not None:
            await self.ledger.aclose()
        if self.group is not None:
            if self._publisher is not None:
                self._publisher.cancel()
            self.group.publish()  # the last figures, ledger flush included: the group's counters keep them

    @property
    def accepting(self) -> bool:
        """Whether a new request may be admitted: its record will have somewhere to go (Redis or the spool)."""
        return self.ledger is None or self.ledger.accepting

    def add_closed_listener(self, fn: Callable[[list[TaskRecord]], None]) -> None:
        """Hear of the tasks this process closes (the judge): before `start` too, when the task book is made."""
        self._task_listeners.append(fn)
        if self.tasks is not None:
            self.tasks.add_closed_listener(fn)

    def expect(self, request_id: str, key_id: str | None, task_id: str | None = None) -> None:
        """A request started (or ended, knowing its task): feedback may name it before its record is written."""
        self._known[request_id] = (key_id, task_id)
        if len(self._known) >= KNOWN_GENERATION:
            self._known_before, self._known = self._known, {}
        if task_id is not None:
            self._tasks[task_member(key_id, task_id)] = None
            if len(self._tasks) >= KNOWN_GENERATION:
                self._tasks_before, self._tasks = self._tasks, {}

    def knows_task(self, key_id: str | None, task_id: str) -> bool:
        """A task of this key that a recent request here was a step of (its record may not be in the ledger yet)."""
        member = task_member(key_id, task_id)
        return member in self._tasks or member in self._tasks_before

    def knows(self, request_id: str) -> bool:
        return request_id in self._known or request_id in self._known_before

    def key_of(self, request_id: str) -> str | None:
        """The key id that made a request this process remembers (None: keyless, or not remembered — see `knows`).

        A request it does not remember is answered by its ledger marker (`FeedbackStore.key_of`, any replica).
        """
        known = self._known if request_id in self._known else self._known_before
        return known.get(request_id, (None, None))[0]

    def task_of(self, request_id: str) -> str | None:
        """The task a request this process remembers was a step of (None: none, or not known yet)."""
        known = self._known if request_id in self._known else self._known_before
        return known.get(request_id, (None, None))[1]

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


def _model_of(answer: Any) -> str | None:
    """`model` of a chat answer or chunk, or of the response object a Responses event carries."""
    if not isinstance(answer, dict):
        return None
    if isinstance(answer.get("response"), dict):
        answer = answer["response"]
    model = answer.get("model")
    return model if isinstance(model, str) else None


def _answer_text(parsed: Any) -> str:
    """What the model wrote in a JSON answer (text and tool-call arguments), for an estimate when usage is missing.

    A Chat Completions answer carries it in `choices[0].message`; a Responses object in its `output` items.
    """
    try:
        if isinstance(parsed.get("output"), list):
            return _responses_output_text(parsed["output"])
        message = parsed["choices"][0]["message"]
        return (message.get("content") or "") + "".join(
            (c.get("function") or {}).get("arguments", "") for c in message.get("tool_calls") or ()
        )
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""


def _responses_output_text(output: list[Any]) -> str:
    parts: list[str] = []
    for item in output:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("arguments"), str):  # a function_call item
            parts.append(item["arguments"])
        for content in item.get("content") or ():
            if isinstance(content, dict) and isinstance(content.get("text"), str):
                parts.append(content["text"])
    return "".join(parts)


def _estimate(request: dict[str, Any], api: str, completion_text: str, prompt_tokens: int | None = None) -> Usage:
    return Usage(
        prompt_tokens=count_prompt(request, api) if prompt_tokens is None else prompt_tokens,
        completion_tokens=count_text(completion_text),
        estimated=True,
    )
