"""The GenAI attributes a finished record gives its spans (pure: no OpenTelemetry import needed)."""

from __future__ import annotations

import orjson

from metering.completion import Completion
from metering.record import Attempt, EndedBy, Outcome, Record, Usage
from router.telemetry.attributes import TierFacts, attempt_attributes, request_attributes, response_id

NANO = {"nano": TierFacts("openai", "api.openai.com", 443), "qwen": TierFacts("vllm", "10.0.0.5", 8000)}


def test_a_request_that_failed_on_every_tier_says_why_and_spent_nothing() -> None:
    record = Record(request_id="r1", requested_model="auto", routed_tier="nano", status=502, outcome=Outcome.FAILED)
    record.attempts = [
        Attempt(tier="nano", model="gpt-5.4-nano", status=503, error_type="server_error", ended_by=EndedBy.FALLBACK),
        Attempt(tier="qwen", model="Qwen/Qwen3.5-9B", error_type="connect_error", ended_by=EndedBy.ERROR),
    ]
    attributes = request_attributes(record, NANO, None)
    assert attributes["error.type"] == "connect_error" and attributes["http.response.status_code"] == 502
    assert attributes["gen_ai.provider.name"] == "vllm" and "gen_ai.usage.input_tokens" not in attributes
    first = attempt_attributes(record, record.attempts[0], NANO["nano"], None)
    assert first["routetax.attempt.ended_by"] == "fallback" and first["error.type"] == "server_error"
    assert (first["server.address"], first["server.port"]) == ("api.openai.com", 443)


def test_usage_names_keep_cached_and_reasoning_inside_their_parents() -> None:
    record = Record(request_id="r2", api="responses", requested_model="mini")
    record.usage = Usage(prompt_tokens=100, cached_tokens=60, completion_tokens=50, reasoning_tokens=20)
    attributes = request_attributes(record, NANO, "resp_1")
    assert attributes["gen_ai.operation.name"] == "chat" and attributes["openai.api.type"] == "responses"
    assert attributes["gen_ai.usage.input_tokens"] == 100 and attributes["gen_ai.usage.cache_read.input_tokens"] == 60
    assert attributes["gen_ai.usage.output_tokens"] == 50 and attributes["gen_ai.usage.reasoning.output_tokens"] == 20
    assert attributes["gen_ai.response.id"] == "resp_1"


def test_embeddings_are_not_classified() -> None:
    record = Record(request_id="r3", api="embeddings", requested_model="text-embedding-3-small", label="embedding")
    attributes = request_attributes(record, NANO, None)
    assert attributes["gen_ai.operation.name"] == "embeddings" and "openai.api.type" not in attributes
    assert "routetax.class" not in attributes


def test_the_response_id_comes_from_a_json_answer_or_a_streams_usage_event() -> None:
    class Stream:
        usage_chunk = {"type": "response.completed", "response": {"id": "resp_9", "usage": {}}}

    completion = Completion(request={}, bodies=[orjson.dumps({"id": "chatcmpl-1"}), None], streams=[None, Stream()])
    assert response_id(completion, 0) == "chatcmpl-1"
    assert response_id(completion, 1) == "resp_9"
