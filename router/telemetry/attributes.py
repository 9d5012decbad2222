"""The spans' and metrics' attributes, from a finished request's `Record`: GenAI semantic conventions + `routetax.*`.

Names follow the OpenTelemetry GenAI semantic conventions (development status; the names of the last version
published in the main semantic-conventions repository, before they moved to a repository of their own):

- `gen_ai.operation.name`: `chat` for Chat Completions and for the Responses API (the conventions' OpenAI page
  tells the two apart with `openai.api.type`: `chat_completions` / `responses`), `embeddings` for embeddings.
- `gen_ai.provider.name` (which replaced the deprecated `gen_ai.system`): `openai` for a tier speaking the
  `openai` dialect; a self-hosted engine has no well-known value, so its dialect's name (`vllm`, `ollama`,
  `llamacpp`), as the conventions allow for providers they do not list.
- `gen_ai.usage.input_tokens` / `output_tokens`, and the cached and reasoning parts as the conventions name them,
  `gen_ai.usage.cache_read.input_tokens` and `gen_ai.usage.reasoning.output_tokens`: each included in its parent
  count, exactly as routetax's usage holds them (cached ⊂ prompt, reasoning ⊂ completion).

Routing decisions are `routetax.*` attributes. Pure functions of plain data: nothing here imports OpenTelemetry.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import orjson

from metering.completion import Completion
from metering.record import Attempt, Record, Usage

AttributeValue = str | bool | int | float | list[str]
Attributes = dict[str, AttributeValue]


class Operation(StrEnum):
    """`gen_ai.operation.name` values routetax serves."""

    CHAT = "chat"
    EMBEDDINGS = "embeddings"


OPERATION = {"chat": Operation.CHAT, "responses": Operation.CHAT, "embeddings": Operation.EMBEDDINGS}
OPENAI_API_TYPE = {"chat": "chat_completions", "responses": "responses"}  # embeddings: the conventions name none


@dataclass(frozen=True, slots=True)
class TierFacts:
    """What a tier's spans say of the server behind it (from its configuration, once)."""

    provider: str
    address: str
    port: int

    @staticmethod
    def of(base_url: str, dialect: str) -> TierFacts:
        parts = urlsplit(base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return TierFacts(provider=dialect, address=parts.hostname or "", port=port)


def usage_attributes(usage: Usage | None) -> Attributes:
    if usage is None:
        return {}
    out: Attributes = {
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
        "gen_ai.usage.cache_read.input_tokens": usage.cached_tokens,
        "gen_ai.usage.reasoning.output_tokens": usage.reasoning_tokens,
    }
    if usage.estimated:
        out["routetax.usage.estimated"] = True
    return out


def _common(record: Record) -> Attributes:
    out: Attributes = {"gen_ai.operation.name": OPERATION[record.api].value}
    if record.api in OPENAI_API_TYPE:
        out["openai.api.type"] = OPENAI_API_TYPE[record.api]
    if record.stream:
        out["gen_ai.request.stream"] = True
    return out


def response_id(completion: Completion, index: int) -> str | None:
    """The upstream's id for attempt `index`'s answer (`chatcmpl-…`, `resp_…`), when it produced one."""
    data: Any = None
    if index < len(completion.bodies) and completion.bodies[index] is not None:
        try:
            data = orjson.loads(completion.bodies[index])  # type: ignore[arg-type]
        except orjson.JSONDecodeError:
            return None
    elif index < len(completion.streams) and (stream := completion.streams[index]) is not None:
        data = stream.usage_chunk
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("response"), dict):  # a Responses stream event carries the response object
        data = data["response"]
    value = data.get("id")
    return value if isinstance(value, str) else None


def request_attributes(record: Record, tiers: dict[str, TierFacts], final_response_id: str | None) -> Attributes:
    """The request (SERVER) span's attributes: what the client asked, what served it, what it cost, and why there."""
    out = _common(record)
    out["gen_ai.request.model"] = record.requested_model
    out["http.response.status_code"] = record.status
    out["routetax.request_id"] = record.request_id
    out["routetax.outcome"] = record.outcome.value
    out["routetax.retries"] = record.retries
    out["routetax.fallbacks"] = record.fallbacks
    out["routetax.cost_usd"] = record.cost_usd
    out["routetax.proxy_overhead_ms"] = record.proxy_overhead_ms
    if record.is_task:  # embeddings are not classified or routed by class
        out["routetax.class"] = record.label
        out["routetax.class.confidence"] = record.confidence
        out["routetax.class.reasons"] = list(record.reasons)
        out["routetax.explored"] = record.explored
        out["routetax.pinned"] = record.pinned
    if record.routed_tier is not None:
        out["routetax.tier"] = record.routed_tier
    if record.tier_path:
        out["routetax.tier_path"] = list(record.tier_path)
    if record.skipped_tiers:
        out["routetax.skipped_tiers"] = [f"{tier}:{why}" for tier, why in record.skipped_tiers.items()]
    if record.degraded_reason is not None:
        out["routetax.degraded_reason"] = record.degraded_reason
    if record.task_id is not None:
        out["routetax.task.id"] = record.task_id
        out["routetax.task.step"] = record.task_step
        if record.task_class is not None:
            out["routetax.task.class"] = record.task_class
        if record.task_class_reason is not None:
            out["routetax.task.class_reason"] = record.task_class_reason.value
    if record.key_id is not None:
        out["routetax.key_id"] = record.key_id
    if record.attempts:
        last = record.attempts[-1]
        out["gen_ai.response.model"] = last.served_model or last.model
        if (facts := tiers.get(last.tier)) is not None:
            out["gen_ai.provider.name"] = facts.provider
    if final_response_id is not None:
        out["gen_ai.response.id"] = final_response_id
    out.update(usage_attributes(record.usage))
    if record.status >= 400:
        out["error.type"] = error_type(record)
    return out


def attempt_attributes(record: Record, attempt: Attempt, facts: TierFacts | None, rid: str | None) -> Attributes:
    """One upstream attempt's (CLIENT) span: the GenAI call as the upstream saw it, and how it ended."""
    out = _common(record)
    out["gen_ai.request.model"] = attempt.model
    out["routetax.tier"] = attempt.tier
    out["routetax.attempt.ended_by"] = attempt.ended_by.value
    out["routetax.cost_usd"] = attempt.cost_usd
    if facts is not None:
        out["gen_ai.provider.name"] = facts.provider
        out["server.address"] = facts.address
        out["server.port"] = facts.port
    if attempt.served_model is not None:
        out["gen_ai.response.model"] = attempt.served_model
    if rid is not None:
        out["gen_ai.response.id"] = rid
    if attempt.status is not None:
        out["http.response.status_code"] = attempt.status
    if attempt.reason is not None:
        out["routetax.attempt.reason"] = attempt.reason
    if attempt.ttft_ms is not None:  # a stream: the attempt returned at its first visible event, sent or not
        out["gen_ai.response.time_to_first_chunk"] = attempt.latency_ms / 1000
    out.update(usage_attributes(attempt.usage))
    if attempt.error_type is not None:
        out["error.type"] = attempt.error_type
    return out


def error_type(record: Record) -> str:
    """A failed request's `error.type`: the last attempt's error (`rate_limit`, `timeout`…), else its status."""
    if record.attempts and record.attempts[-1].error_type:
        return record.attempts[-1].error_type
    return str(record.status)
