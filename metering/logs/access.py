"""The access log: one line per finished request to the proxied APIs, answered or refused.

Written from the finished-request pipeline (after the client has its answer; a stream when it ends), once
usage and cost are known, so its figures are the ledger record's own. A request refused before it was
routed (401, 429 budgets and rates, 503 store or ledger) has no record: the error boundary writes its line.
Either way the line only goes onto the log's bounded queue (`output`): no request waits on stderr. The line
is every request's, so it takes the short way there (`Output.access_line`: one JSON dump of a flat dict, no
log record, only client-written strings scrubbed); with the text format, or no `output` configured (a test, a
library use), it is an ordinary log record of `routetax.access`.

The line's fields (docs/logging.md): `request_id`, `task_id`, `key_id` (a hash, never the key), `api`,
`class`, `model` (asked), `tier_path` (as the ledger has it), `attempts` (every attempt's tier in order:
retries and fallbacks show), `retries`, `fallbacks`, `status`, `outcome`, `added_ms` (routetax's own time,
not the upstream's), `duration_ms`, the tokens of the final attempt (`prompt_tokens`, `cached_tokens`,
`completion_tokens`, `reasoning_tokens`, `estimated`) and `cost_usd` (every billed attempt's), `stream`;
a refusal's line has `code` (the refusal) instead of a tier path.
"""

from __future__ import annotations

import logging
from typing import Any

from metering.logs import context, output
from metering.logs.output import ACCESS_LOGGER
from metering.record import Record

log = logging.getLogger(ACCESS_LOGGER)
ACCESS_EVENT = "access"


def record_fields(record: Record) -> dict[str, Any]:
    """The access line of a finished request, from its record (the same figures the ledger keeps)."""
    usage = record.usage
    return {
        "event": ACCESS_EVENT,
        "request_id": record.request_id,
        "task_id": record.task_id,
        "key_id": record.key_id,
        "api": record.api,
        "class": record.label,
        "model": record.requested_model,
        "tier_path": list(record.tier_path),
        "attempts": [attempt.tier for attempt in record.attempts],
        "retries": record.retries,
        "fallbacks": record.fallbacks,
        "status": record.status,
        "outcome": str(record.outcome),
        "added_ms": round(record.proxy_overhead_ms, 3),
        "duration_ms": round(max(record.ended_at - record.started_at, 0.0) * 1000, 3),
        "prompt_tokens": usage.prompt_tokens if usage is not None else 0,
        "cached_tokens": usage.cached_tokens if usage is not None else 0,
        "completion_tokens": usage.completion_tokens if usage is not None else 0,
        "reasoning_tokens": usage.reasoning_tokens if usage is not None else 0,
        "estimated": record.estimated,
        "cost_usd": record.cost_usd,
        "stream": record.stream,
    }


def finished(record: Record) -> None:
    """The access line of a request whose record is finished (the pipeline's access stage)."""
    handling = context.current()
    if handling is not None and handling.request_id == record.request_id:
        handling.access_logged = True
    if not log.isEnabledFor(logging.INFO):  # `log.access: false`: not even the fields are made
        return
    _write(f"{record.api} {record.tier_path[-1] if record.tier_path else '-'} {record.status}", record_fields(record))


def refused(status: int, code: str, added_ms: float | None = None) -> None:
    """The access line of a proxied request refused before it had a record (`access_logged`: none is written twice).

    Only while a proxied request is in hand (intake began its context): the management endpoints and the
    HTTP layer's own refusals are counted in `routetax_rejections_total`, not access-logged.
    """
    handling = context.current()
    if handling is None or handling.access_logged:
        return
    handling.access_logged = True
    if not log.isEnabledFor(logging.INFO):
        return
    fields = {
        "event": ACCESS_EVENT,
        "request_id": handling.request_id,
        "task_id": handling.task_id,
        "key_id": handling.key_id,
        "status": status,
        "outcome": "refused",
        "code": code,
        "added_ms": added_ms,
    }
    _write(f"refused {status} {code}", fields)


def _write(msg: str, fields: dict[str, Any]) -> None:
    out = output.active()
    if out is None or not out.access_line(msg, fields):
        log.info("%s", msg, extra=fields)
