"""Every Prometheus metric routetax exports, defined once, with help an on-call human can read.

Labels are bounded: tier, model, class, outcome, reason, kind, baseline, api, result, and for
the per-key spend and budget series a virtual key's id, name and team — never a request id, a
user, a client's secret or its hash. Key ids and names are fine as labels because an admin
creates every key (`routetax keys create`), so their number is what the admin made, not what
traffic brings, and neither is a credential (`keys list` prints both). `observe(record)`
updates everything from one finished record; it runs after the client has its answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily

from metering.cost import base_usd
from metering.logs import output
from metering.loop_metrics import Counter, Gauge, Histogram
from metering.record import EndedBy, Record
from metering.tasks import TaskRecord
from metering.verdict import Decision

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1)
CLASSIFIER_BUCKETS = (0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.001)


def _log_lines_dropped() -> int:
    active = output.active()
    return active.dropped if active is not None else 0


class DroppedLogLines:
    """`routetax_log_lines_dropped_total`: read from the log's output at each scrape, where the count lives.

    The lines that say lines are being dropped go down the channel that is failing; a counter an alert can read
    does not. Collected, not incremented: the log's callers run on any thread, the loop's metrics on one.
    """

    def __init__(self, read: Callable[[], int]) -> None:
        self.read = read

    def describe(self) -> list[CounterMetricFamily]:
        return [self._family(0)]

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield self._family(self.read())

    @staticmethod
    def _family(value: int) -> CounterMetricFamily:
        return CounterMetricFamily(
            "routetax_log_lines_dropped",
            "Log lines dropped because stderr did not keep up with the bounded log queue (10,000 lines).",
            value=value,
        )


class Metrics:
    """One registry per process (tests build their own)."""

    def __init__(self, log_lines_dropped: Callable[[], int] = _log_lines_dropped) -> None:
        self._classifier_usd = 0.0
        self.registry = r = CollectorRegistry()
        r.register(DroppedLogLines(log_lines_dropped))
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
        self.base = Counter(
            "routetax_base_cost_usd",
            "Base spend: each request served once where it ended - its final attempt's billed cost, less the "
            "cached-input discount its conversation forfeited by moving tier - by the tier that served it. "
            "Routing overhead = actual / base - 1 (docs/routing-tax.md); failed tasks are not overhead.",
            ["tier", "class"],
            registry=r,
        )
        self.explored = Counter(
            "routetax_explored_requests",
            "Requests that policy.explore sent to a tier drawn at random (to measure every tier x class cell).",
            ["tier", "class"],
            registry=r,
        )
        self.classifier_cost = Counter(
            "routetax_classifier_cost_usd",
            "Classifier cost: report.classifier_usd_per_request for every request (0 with the rule classifier).",
            registry=r,
        )
        self.router_hour = Gauge(
            "routetax_router_hour_usd",
            "report.router_hour_usd as configured: what the whole deployment (all replicas) costs per hour. "
            "Every replica exports the same figure: take max(), never sum().",
            registry=r,
        )
        self.key_spend = Counter(
            "routetax_key_spend_usd",
            "Spend charged to a virtual key's budget (the real cost of its requests), by key id, name and team.",
            ["key_id", "key", "team"],
            registry=r,
        )
        self.key_budget = Gauge(
            "routetax_key_budget_usd",
            "A virtual key's budget per period (day or month), exported by every replica that served the key: "
            "take max by key, never sum.",
            ["key_id", "key", "team", "period"],
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
        self.ledger_dropped = Counter(
            "routetax_ledger_records_dropped",
            "Ledger records lost: Redis and the spool disk both refused them and the memory queue was full "
            "(reason memory_full), or they were still unwritten at shutdown (shutdown), or unserialisable.",
            ["reason"],
            registry=r,
        )
        self.settlements_dropped = Counter(
            "routetax_key_settlements_dropped",
            "Key settlements never charged: the store refused them, and so did the spool disk, past 100,000 held "
            "in memory (or at shutdown). Each is a request's spend missing from its key's budget.",
            registry=r,
        )
        self.rejections = Counter(
            "routetax_rejections",
            "Requests answered with an error before any upstream was called, by status and reason "
            "(missing_api_key, budget_exceeded, rate_limit_exceeded, body_too_large, ...).",
            ["status", "reason"],
            registry=r,
        )
        self.breaker_open = Gauge(
            "routetax_breaker_open", "1 while a tier's circuit breaker is open or probing.", ["tier"], registry=r
        )

        self.agentic_share = Gauge(
            "routetax_agentic_share", "Measured agentic share of requests over the policy window.", registry=r
        )
        self.routing_overhead = Gauge(
            "routetax_routing_overhead",
            "Routing overhead: measured ((actual - base) / base) and the published model's band (model_low, "
            "model_high).",
            ["source"],
            registry=r,
        )
        self.break_even = Gauge(
            "routetax_break_even_agentic_share",
            "Agentic share above which dual-tier costs more per completed task than mini-only: measured (with "
            "its interval's ends, measured_low / measured_high) and published (model).",
            ["source"],
            registry=r,
        )
        self.savings_vs_mini = Gauge(
            "routetax_savings_vs_mini",
            "Measured savings vs sending everything to mini, per completed task (1 - dual / mini-only).",
            registry=r,
        )
        self.success_rate = Gauge(
            "routetax_success_rate",
            "Measured success rate per first-routed tier and class (no feedback counts as success).",
            ["tier", "class"],
            registry=r,
        )
        self.cost_per_task = Gauge(
            "routetax_cost_per_completed_task_usd",
            "Spend of the requests first routed to a tier in a class, per one of them that succeeded.",
            ["tier", "class"],
            registry=r,
        )
        self.policy_cost_per_task = Gauge(
            "routetax_policy_cost_per_completed_task_usd",
            "Cost per completed task of each policy (dual as run, mini_only, nano_only, qwen_only, "
            "agentic_to_qwen), each single-tier policy on its tier's own requests, with its 95% interval's ends "
            "(bound = point, low, high); absent while unmeasured. role names the policy by tier role whatever "
            "the tiers are called: dual, mid_only, cheap_only, self_hosted_only, agentic_to_self_hosted.",
            ["policy", "role", "bound"],
            registry=r,
        )
        self.verdict = Gauge(
            "routetax_verdict",
            "1 for the routing-tax decision in force: dual_tier_pays, mini_only_cheaper or undecided.",
            ["decision"],
            registry=r,
        )
        self.policy_mode = Gauge(
            "routetax_policy_mode", "1 for the routing mode in force (dual or mini_only).", ["mode"], registry=r
        )
        self.judge_tasks = Counter(
            "routetax_judge_tasks",
            "Ended tasks the judge was asked to grade, by result: success / failure (graded), ungraded (its "
            "answer was neither word), call_failed (no usable answer), no_exchange (the final exchange had "
            "expired or was never kept), dropped (the judge's queue was full). Its calls' spend is class judge.",
            ["result"],
            registry=r,
        )
        self.judge_agreement = Counter(
            "routetax_judge_agreement",
            "Tasks with both a judge's grade and the application's feedback, by whether they agree (true/false).",
            ["agree"],
            registry=r,
        )
        self.policy_switches = Counter(
            "routetax_policy_switches",
            "Switches of the auto policy between dual-tier and mini-only.",
            ["to"],
            registry=r,
        )
        self.tasks = Counter(
            "routetax_tasks",
            "Tasks (an agent run or a conversation) closed, by arm (the tier their first step went to), class and "
            "outcome as known when they closed (success | failure | unknown), and who said so (feedback | detected "
            "| judge | none). Feedback or a judge's grade that comes later is in the ledger's export, not here.",
            ["tier", "class", "outcome", "source"],
            registry=r,
        )
        self.task_cost = Counter(
            "routetax_task_cost_usd",
            "Billed spend of closed tasks (every attempt of every step), by arm and class: divide by "
            "routetax_tasks_total for the cost per task.",
            ["tier", "class"],
            registry=r,
        )

    def observe_task(self, task: TaskRecord, previous_cost: float | None) -> None:
        """A task closed. `previous_cost`: None on its first close; when a late step reopened it, what its
        superseded record cost (the task is not counted again, only the cost the late step added)."""
        tier = task.arm or "none"
        if previous_cost is None:
            # The outcome and its source are StrEnum members: equal to (and hashed as) their text, so they find
            # their series as they are (an enum's `.value` is a descriptor call, on every task closed).
            self.tasks.labels(tier, task.task_class, task.outcome, task.outcome_source or "none").inc()
            self.task_cost.labels(tier, task.task_class).inc(task.cost_usd)
        elif task.cost_usd > previous_cost:
            self.task_cost.labels(tier, task.task_class).inc(task.cost_usd - previous_cost)

    def set_assumptions(self, router_hour_usd: float, classifier_usd_per_request: float) -> None:
        """The report's two configured costs, so PromQL can price actual spend the way the report does."""
        self.router_hour.set(router_hour_usd)
        self._classifier_usd = classifier_usd_per_request

    def observe_key(
        self, key_id: str, name: str, team: str | None, period: str, budget_usd: float | None, cost_usd: float
    ) -> None:
        """A keyed request was settled: its cost goes to the key's spend, and its budget is (re)exported."""
        self.key_spend.labels(key_id, name, team or "").inc(cost_usd)
        if budget_usd is not None:
            self.key_budget.labels(key_id, name, team or "", period).set(budget_usd)

    def rejected(self, status: int, reason: str | None) -> None:
        self.rejections.labels(str(status), reason or "none").inc()

    def set_routing_tax(self, report: dict, mode: str) -> None:
        """Refresh the routing-tax gauges from a report (unmeasured figures are left as they were)."""
        measured, model = report["measured"], report["model"]
        for gauge, value in (
            (self.agentic_share, measured["agentic_share"]),
            (self.savings_vs_mini, measured["savings_vs_mini"]),
        ):
            if value is not None:
                gauge.set(value)
        if measured["routing_overhead"] is not None:
            self.routing_overhead.labels("measured").set(measured["routing_overhead"])
        self.routing_overhead.labels("model_low").set(model["routing_overhead"][0])
        self.routing_overhead.labels("model_high").set(model["routing_overhead"][1])
        if measured["break_even_agentic_share"] is not None:
            low, high = measured["break_even_ci"]
            self.break_even.labels("measured").set(measured["break_even_agentic_share"])
            self.break_even.labels("measured_low").set(low)
            self.break_even.labels("measured_high").set(high)
        self.break_even.labels("model").set(model["break_even_agentic_share"])
        for cell in measured["cells"]:
            if cell["success_rate"] is not None:
                self.success_rate.labels(cell["tier"], cell["class"]).set(cell["success_rate"])
            if cell["cost_per_completed_task_usd"] is not None:
                self.cost_per_task.labels(cell["tier"], cell["class"]).set(cell["cost_per_completed_task_usd"])
        for name, policy in measured["policies"].items():
            if policy["measured"] and policy["cost_per_completed_task_usd"] is not None:
                low, high = policy["ci"]
                for bound, value in (("point", policy["cost_per_completed_task_usd"]), ("low", low), ("high", high)):
                    if value is not None:
                        self.policy_cost_per_task.labels(name, policy["role"], bound).set(value)
        for decision in Decision:
            self.verdict.labels(decision).set(1 if decision == report["verdict"]["decision"] else 0)
        for name in ("dual", "mini_only"):
            self.policy_mode.labels(name).set(1 if name == mode else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def observe(self, record: Record) -> None:
        """Everything one finished record adds. An embeddings request (not a task, not classified: class
        `embedding`) counts as a request, its attempts, tokens, spend and time; it adds nothing to the
        classifier's series or to the base spend the routing overhead is measured against. A judge's call
        (class `judge`) counts the same way, and adds no proxy overhead either."""
        label = record.label
        task = record.is_task
        final = record.final_tier or "none"
        # `add` / `observe_at`: labels(...).inc() / .observe() in one call each — a dozen a request
        self.requests.add((final, label, record.outcome, record.api))
        if task:
            self.decisions.add((label, record.reasons[0] if record.reasons else "none"))
        attempts, cost, tokens = self.attempts, self.cost, self.tokens
        for attempt in record.attempts:
            tier = attempt.tier
            attempts.add((tier, attempt.ended_by))
            if attempt.ended_by == EndedBy.RETRY:
                self.retries.add((tier, attempt.reason or attempt.error_type or "unknown"))
            if attempt.billed:
                cost.add((tier, label), attempt.cost_usd)
                usage = attempt.usage
                if usage is not None:  # each kind written out, not a loop over a tuple made per attempt
                    model = attempt.model
                    if usage.prompt_tokens:
                        tokens.add((tier, model, "prompt"), usage.prompt_tokens)
                    if usage.cached_tokens:
                        tokens.add((tier, model, "cached"), usage.cached_tokens)
                    if usage.completion_tokens:
                        tokens.add((tier, model, "completion"), usage.completion_tokens)
                    if usage.reasoning_tokens:
                        tokens.add((tier, model, "reasoning"), usage.reasoning_tokens)
        if record.skipped_tiers or len(record.attempts) > 1:  # else no move: not even a list to make
            for source, target, reason in fallback_moves(record):
                self.fallbacks.add((source, target, reason))
        counterfactual = self.counterfactual
        for baseline, value in record.counterfactual_usd.items():
            counterfactual.add((baseline, label), value)
        if record.attempts and task:  # zero-cost requests too: the series exists once one was seen
            self.base.add((record.attempts[-1].tier, label), base_usd(record))
        if record.explored:
            self.explored.add((record.routed_tier or "none", label))
        if self._classifier_usd and task:
            self.classifier_cost.inc(self._classifier_usd)
        if record.ended_at and record.started_at:
            self.duration.observe_at((final, label), max(record.ended_at - record.started_at, 0.0))
        if not record.is_judge:  # a judge's call passed through no proxy: it adds no overhead to measure
            self.overhead.observe(record.proxy_overhead_ms / 1000)
        if task:
            self.classifier.observe(record.classifier_us / 1e6)
        last = record.attempts[-1] if record.attempts else None
        if last is not None and last.ttft_ms is not None:
            self.ttft.observe_at((last.tier,), last.ttft_ms / 1000)


def fallback_moves(record: Record) -> list[tuple[str, str, str]]:
    """(from, to, reason) for each move of the request to another tier; skipped tiers count as moves."""
    moves = [(tier, record.final_tier or "none", reason) for tier, reason in record.skipped_tiers.items()]
    for before, after in zip(record.attempts, record.attempts[1:], strict=False):
        if after.tier != before.tier:
            moves.append((before.tier, after.tier, before.reason or before.error_type or "error"))
    return moves
