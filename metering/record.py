"""The per-request record: one per client request, holding every upstream attempt.

The router builds a `Record` while it serves a request and hands it, finished, to the
metering pipeline. Everything downstream (metrics, the Redis ledger, the routing-tax report)
reads records and nothing else, so this shape is the contract between the hot path and
the accounting. It is plain data: dataclasses that serialise to JSON-ready dicts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal


class Outcome(StrEnum):
    """How a request ended for the client. String-valued, so the ledger's JSON and metric labels read the same."""

    SUCCESS = "success"
    DEGRADED = "degraded"  # answered, but the answer is degraded (see `Record.degraded_reason`)
    FAILED = "failed"
    CLIENT_CANCELLED = "client_cancelled"


# The `label` of an embeddings request. It is not classified and is not a task: the routing-tax report, its
# policies and the auto mode leave it out (see `Record.is_task`), while spend, tokens, keys and the ledger count it.
EMBEDDING_LABEL = "embedding"
# The `label` of a judge's call (docs/task-records.md, the judge): measurement, not traffic. It is not a task and
# is charged to no policy (`Record.is_task` is false), while spend, tokens and the ledger count it, under a class
# of its own.
JUDGE_LABEL = "judge"


class TaskSource(StrEnum):
    """How a request was known to be a step of its task (docs/tasks.md), in the order they are tried."""

    HEADER = "header"  # the client's `x-routetax-task` (scoped to its key)
    RESPONSE_CHAIN = "response_chain"  # Responses `previous_response_id`
    CONVERSATION = "conversation"  # Responses `conversation`
    CONTINUATION = "continuation"  # its history extends an earlier request's plus the answer routetax gave it
    NEW = "new"  # none of those: the first step of a new task


class TaskClassReason(StrEnum):
    """Why a step was routed in its task's class."""

    CLASSIFIER = "classifier"  # this step's own text (the first step of a task, or a single-turn task so far)
    LOOP_SIGNAL = "loop_signal"  # the previous answer came back with new tool/environment output at machine pace
    EARLIER_STEP = "earlier_step"  # an earlier step already made the task agentic


class EndedBy(StrEnum):
    """Why one upstream attempt ended."""

    OK = "ok"  # its answer went to the client
    ERROR = "error"  # it failed and nothing came after it (or it was the last tier)
    RETRY = "retry"  # the same tier was tried again
    FALLBACK = "fallback"  # the next tier of the plan was tried
    REDO = "redo"  # its answer was degraded: the next tier did the work again
    CLIENT_CANCELLED = "client_cancelled"  # the client left while it was being served
    SERVER_SHUTDOWN = "server_shutdown"  # routetax was stopping (SIGTERM) and ended it after the drain


class PriceEstimate(StrEnum):
    """Why an attempt's price is an estimate: the upstream charged for a combination no published rate covers.

    It is billed all the same (a gateway that priced it at 0 would under-charge budgets) and marked so.
    """

    LONG_CONTEXT_UNDER_PRIORITY = "long_context_under_priority"  # the 272K cliff is defined for standard, Batch, flex
    MODE_NOT_PUBLISHED = "mode_not_published"  # a model the price rules do not name, in a mode the map has no rate for


@dataclass  # no slots: see Record
class Usage:
    """Token counts as the upstream reported them (or as estimated, see `estimated`).

    `cached_tokens` is a subset of `prompt_tokens`; `reasoning_tokens` is a subset of
    `completion_tokens`. Neither is ever added on top of its parent.
    """

    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False
    service_tier: str | None = None  # as *reported* by the upstream, which is what is billed

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass  # no slots: see Record
class Attempt:
    """One upstream call. `billed` says whether the upstream charged for it."""

    tier: str
    model: str
    status: int | None = None  # HTTP status; None when no response arrived (connect error, timeout)
    error_type: str | None = None  # e.g. "rate_limit", "server_error", "timeout", "connect_error"
    ended_by: EndedBy = EndedBy.OK
    reason: str | None = None  # bounded label for retries/fallbacks: rate_limit, server_error, bad_tool_json, ...
    started_at: float = 0.0  # unix seconds
    latency_ms: float = 0.0
    ttft_ms: float | None = None  # streams only: time to the first content byte
    usage: Usage | None = None
    cost_usd: float = 0.0
    billed: bool = False
    usage_rejected: str | None = None  # the upstream's usage was not believed (invalid_count, prompt_over_limit,
    # completion_over_limit, impossible): `usage` is then a tokenizer estimate, marked `estimated`
    served_model: str | None = None  # the `model` the upstream answered with (llama.cpp: its alias, whatever was asked)
    price_estimate: PriceEstimate | None = None  # `cost_usd` is an estimate, and why (docs/pricing.md)


@dataclass
class Record:
    """Everything known about one client request, written once when it ends.

    Record, Attempt and Usage are dataclasses without `__slots__` on purpose: the ledger serialises every record
    with `orjson.dumps`, which reads a dataclass's `__dict__` in one pass but a slotted one field by field — 59k
    against 22k instructions for a small JSON request's record (callgrind), a tenth of metering's own work per
    request. Attribute reads cost the same either way on Python 3.11.
    """

    request_id: str
    api: Literal["chat", "responses", "embeddings"] = "chat"
    started_at: float = 0.0
    ended_at: float = 0.0
    key_id: str | None = None  # a hash of the client's key, never the key
    requested_model: str = ""
    label: str = "single_turn"  # "single_turn" | "agentic"; EMBEDDING_LABEL for embeddings, JUDGE_LABEL for a judge
    confidence: float = 1.0
    reasons: list[str] = field(default_factory=list)
    stream: bool = False
    routed_tier: str | None = None  # the tier the policy chose first (success rates are per first-routed tier)
    explored: bool = False  # routed_tier was drawn at random by policy.explore, not chosen by the policy
    pinned: bool = False  # the client named a tier or model: kept out of the verdict's dual-tier side
    tier_path: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    retries: int = 0
    fallbacks: int = 0
    skipped_tiers: dict[str, str] = field(default_factory=dict)  # tier -> why it got no attempt (breaker_open, ...)
    degraded_reason: str | None = None  # why the final answer is degraded, when it is
    cache_loss_usd: float = 0.0  # cached-input discount forfeited by switching this conversation's tier
    conversation: str | None = None  # the conversation key (a hash or the client's prompt_cache_key / user)
    kept_by_affinity: bool = False  # the policy would have moved it to a cheaper tier; the cache was worth more
    usage: Usage | None = None  # of the final attempt
    cost_usd: float = 0.0  # sum over billed attempts
    counterfactual_usd: dict[str, float] = field(default_factory=dict)  # tier -> cost had it served all
    proxy_overhead_ms: float = 0.0
    classifier_us: float = 0.0
    outcome: Outcome = Outcome.SUCCESS
    status: int = 200  # what the client was answered
    estimated: bool = False
    # The task this request is a step of (docs/tasks.md); None for embeddings and with `tasks.enabled: false`.
    task_id: str | None = None
    task_source: TaskSource | None = None
    task_step: int = 1  # 1: the task's first request (a retried request keeps its step)
    task_class: str | None = None  # the class the task was routed as at this step: agentic | single_turn
    task_class_reason: TaskClassReason | None = None
    task_end: bool = False  # the client said this is the task's last request (`x-routetax-task-end: true`)
    answer_calls: str | None = None  # a digest of the tool calls the answer asked for (names and arguments)

    @property
    def is_task(self) -> bool:
        """A step of a task (chat, Responses), the routing-tax report's unit; an embeddings request is not one,
        nor is a judge's call (it grades a task, it is no step of one)."""
        return self.api != "embeddings" and self.label != JUDGE_LABEL

    @property
    def is_judge(self) -> bool:
        """A judge's call: spend on measuring outcomes, a line of its own (docs/task-records.md, the judge)."""
        return self.label == JUDGE_LABEL

    @property
    def final_tier(self) -> str | None:
        return self.tier_path[-1] if self.tier_path else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        data = dict(data)
        # `amortised_usd` was a per-attempt running share of the GPU-hour in older records; the report now
        # amortises a whole window at one rate (docs/routing-tax.md), so the old figure is dropped when read back.
        attempts = [
            Attempt(
                **{
                    **a,
                    "usage": Usage(**a["usage"]) if a.get("usage") else None,
                    "ended_by": EndedBy(a.get("ended_by", EndedBy.OK)),
                    "price_estimate": PriceEstimate(a["price_estimate"]) if a.get("price_estimate") else None,
                }
            )
            for a in ({k: v for k, v in a.items() if k != "amortised_usd"} for a in data.pop("attempts", []))
        ]
        usage = Usage(**data["usage"]) if data.get("usage") else None
        data.pop("usage", None)
        data["outcome"] = Outcome(data.get("outcome", Outcome.SUCCESS))
        if data.get("task_source") is not None:
            data["task_source"] = TaskSource(data["task_source"])
        if data.get("task_class_reason") is not None:
            data["task_class_reason"] = TaskClassReason(data["task_class_reason"])
        return cls(**data, attempts=attempts, usage=usage)
