"""The request path for `POST /v1/chat/completions`: parse once, classify, pick a tier, relay.

This module is the hot path. Per request it parses the body once (orjson), classifies it,
resolves the tier, forwards bytes with `model` swapped, and relays the answer — JSON as the
upstream's bytes, SSE event by event. Metering happens after the client has its answer: the
finished `Record` goes to the sink, which never blocks.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from classifier import Decision, classify
from metering.record import Attempt, Record
from router.config import Config
from router.errors import ProxyError, error_body, error_type_for, normalise_upstream_error
from router.sse import DONE, EventSplitter, StreamState, error_event, filter_events
from router.upstream import UpstreamFailure, UpstreamPool, UpstreamResponse

RecordSink = Callable[[Record, "Completion"], None]

_JSON = "application/json"


@dataclass(slots=True)
class Completion:
    """What the upstream sent back, handed to metering with the record (parsed off the hot path)."""

    body: bytes | None = None  # a non-streamed answer
    stream: StreamState | None = None  # a streamed answer
    request: dict[str, Any] | None = None  # the client's body, for token estimates when usage is missing


class ModelResolver:
    """Maps the client's `model` to a tier: `auto`, a tier name, or a tier's upstream model."""

    def __init__(self, config: Config) -> None:
        self._policy = config.policy
        self._pins: dict[str, str] = {}
        for name, tier in config.tiers.items():
            self._pins.setdefault(tier.model, name)
        for name in config.tiers:
            self._pins[name] = name

    def resolve(self, model: Any, decision: Decision) -> tuple[str, bool]:
        """Return (tier, pinned). Unknown models are a 404 as OpenAI answers them."""
        if model == "auto":
            return getattr(self._policy, decision.label, self._policy.agentic), False
        if isinstance(model, str) and model in self._pins:
            return self._pins[model], True
        raise ProxyError(
            404,
            f"The model `{model}` does not exist on this router. Use `auto`, a tier name or a tier's model.",
            code="model_not_found",
            param="model",
        )


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProxyError(400, f"The request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ProxyError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


def validate_chat(body: dict[str, Any]) -> None:
    """The few checks without which the request cannot be routed; the upstream validates the rest."""
    if "model" not in body:
        raise ProxyError(400, "you must provide a model parameter", code="missing_required_parameter", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ProxyError(
            400, "'messages' must be a non-empty array of message objects.", code="invalid_type", param="messages"
        )
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise ProxyError(400, "'stream' must be a boolean.", code="invalid_type", param="stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise ProxyError(400, "'stream_options' must be an object.", code="invalid_type", param="stream_options")


class ChatProxy:
    """Serves chat completions for one configuration."""

    def __init__(self, config: Config, pool: UpstreamPool, sink: RecordSink) -> None:
        self.config = config
        self.pool = pool
        self.sink = sink
        self.resolver = ModelResolver(config)

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        record = Record(request_id=uuid.uuid4().hex, api="chat", started_at=time.time())
        headers = {"x-routetax-request-id": record.request_id}
        try:
            raw = await _read_body(request, self.config.server.max_body_bytes)
            body = parse_body(raw)
            validate_chat(body)
            record.requested_model = str(body.get("model"))
            t_classify = time.perf_counter()
            decision = classify(body, api="chat", headers=request.headers)
            record.classifier_us = (time.perf_counter() - t_classify) * 1e6
            record.label, record.confidence, record.reasons = (
                decision.label,
                decision.confidence,
                list(decision.reasons),
            )
            headers["x-routetax-class"] = decision.label
            tier, _pinned = self.resolver.resolve(body.get("model"), decision)
        except ProxyError as exc:
            headers["x-routetax-overhead-ms"] = _ms(started)
            return Response(exc.body(), status_code=exc.status, media_type=_JSON, headers=headers)

        record.stream = body.get("stream") is True
        upstream_body = dict(body)
        upstream_body["model"] = self.config.tiers[tier].model
        if record.stream:
            options = dict(body.get("stream_options") or {})
            forward_usage = options.get("include_usage") is True
            options["include_usage"] = True
            upstream_body["stream_options"] = options
        payload = orjson.dumps(upstream_body)
        completion = Completion(request=body)
        attempt = Attempt(tier=tier, model=self.config.tiers[tier].model, started_at=time.time())
        record.attempts.append(attempt)
        record.tier_path.append(tier)
        headers["x-routetax-tier"] = tier
        pre_upstream_ms = (time.perf_counter() - started) * 1000
        t_upstream = time.perf_counter()
        try:
            upstream = await self.pool.send(tier, "/chat/completions", payload)
        except UpstreamFailure as failure:
            attempt.error_type, attempt.ended_by = failure.kind, "error"
            attempt.latency_ms = (time.perf_counter() - t_upstream) * 1000
            status = 504 if failure.kind == "timeout" else 502
            message = f"Upstream tier `{tier}` failed: {failure.kind} ({failure.detail})."
            return self._finish(
                record,
                completion,
                started,
                t_upstream,
                headers,
                status,
                error_body(message, status=status, code=f"upstream_{failure.kind}"),
            )

        attempt.status = upstream.status
        if upstream.status >= 400 or not record.stream:
            status = upstream.status
            try:
                content = await upstream.read()
            except UpstreamFailure as failure:
                status = attempt.status = 502
                content = error_body(
                    f"Upstream tier `{tier}` broke off its answer: {failure.detail}",
                    status=502,
                    code="upstream_protocol_error",
                )
            finally:
                upstream.close()
            attempt.latency_ms = (time.perf_counter() - t_upstream) * 1000
            if status >= 400:
                attempt.error_type, attempt.ended_by = error_type_for(status), "error"
                if status == upstream.status:
                    content = normalise_upstream_error(status, content)
            else:
                completion.body = content
            return self._finish(record, completion, started, t_upstream, headers, status, content)

        headers["x-routetax-overhead-ms"] = f"{pre_upstream_ms:.3f}"  # time added before the first byte
        completion.stream = StreamState()
        return StreamingResponse(
            self._relay(upstream, record, completion, forward_usage, t_upstream, pre_upstream_ms),
            status_code=upstream.status,
            media_type="text/event-stream",
            headers={**headers, "cache-control": "no-cache"},
        )

    def _finish(
        self,
        record: Record,
        completion: Completion,
        started: float,
        t_upstream: float,
        headers: dict[str, str],
        status: int,
        content: bytes,
    ) -> Response:
        upstream_ms = record.attempts[-1].latency_ms
        total_ms = (time.perf_counter() - started) * 1000
        record.proxy_overhead_ms = max(total_ms - upstream_ms, 0.0)
        record.status = status
        record.outcome = "success" if status < 400 else "failed"
        headers["x-routetax-overhead-ms"] = f"{record.proxy_overhead_ms:.3f}"
        return Response(
            content,
            status_code=status,
            media_type=_JSON,
            headers=headers,
            background=BackgroundTask(self._emit, record, completion),
        )

    async def _relay(
        self,
        upstream: UpstreamResponse,
        record: Record,
        completion: Completion,
        forward_usage: bool,
        t_upstream: float,
        pre_upstream_ms: float,
    ) -> AsyncIterator[bytes]:
        state = completion.stream
        assert state is not None
        attempt = record.attempts[-1]
        splitter = EventSplitter()
        relay_s = 0.0
        record.outcome = "client_cancelled"  # until the stream is seen through to its end
        try:
            async for chunk in upstream.chunks():
                t_chunk = time.perf_counter()
                out = filter_events(splitter.feed(chunk), state, forward_usage)
                if not out:
                    continue
                if state.first_byte_at is None:
                    state.first_byte_at = t_chunk
                    attempt.ttft_ms = (t_chunk - t_upstream) * 1000
                relay_s += time.perf_counter() - t_chunk
                yield out
            tail = splitter.rest()
            if tail.strip():
                yield filter_events([tail + b"\n\n"], state, forward_usage)
            if not state.saw_done:
                yield DONE  # the client's SDK waits for it; some upstreams end without one
            record.outcome = "success"
        except UpstreamFailure as failure:
            attempt.error_type, attempt.ended_by = f"stream_{failure.kind}", "error"
            record.outcome, record.status = "failed", 502
            yield error_event(
                f"Upstream tier `{attempt.tier}` broke off the stream: {failure.kind}", "upstream_stream_broken"
            )
            yield DONE
        finally:
            upstream.close()
            attempt.latency_ms = (time.perf_counter() - t_upstream) * 1000
            if record.outcome == "client_cancelled":
                attempt.ended_by = "client_cancelled"
            record.proxy_overhead_ms = pre_upstream_ms + relay_s * 1000
            self._emit(record, completion)

    def _emit(self, record: Record, completion: Completion) -> None:
        record.ended_at = time.time()
        self.sink(record, completion)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ProxyError(413, f"The request body is larger than the limit of {limit} bytes.", code="body_too_large")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProxyError(413, f"The request body is larger than the limit of {limit} bytes.", code="body_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def _ms(since: float) -> str:
    return f"{_ms_float(since):.3f}"


def _ms_float(since: float) -> float:
    return (time.perf_counter() - since) * 1000
