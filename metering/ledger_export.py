"""The ledger's records as JSON lines or CSV, for a time range (`routetax ledger export`).

JSON lines carry every field of every record (attempts included) — the lossless export.
CSV flattens one row per request for a spreadsheet; tokens and cost there are summed over
the request's billed attempts, which is what was paid for.

`--tasks` exports task records instead (one per task, by its start time), each with its outcome
resolved when exported: feedback or a judge's grade that came after the task closed is in it.
The CSV columns are `TASK_CSV_COLUMNS`, documented in docs/task-records.md.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import IO, Any

import orjson

from metering.ledger import DEFAULT_PREFIX, billed_usages, read_records
from metering.record import Record
from metering.store import Store
from metering.tasks import TaskBook, TaskRecord


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


CSV_COLUMNS = [
    "request_id",
    "started_at",
    "started_at_iso",
    "api",
    "label",
    "routed_tier",
    "final_tier",
    "attempts",
    "retries",
    "fallbacks",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "cost_usd",
    "cache_loss_usd",
    "outcome",
    "status",
    "estimated",
    "key_id",
]


def csv_row(record: Record) -> dict[str, Any]:
    """One flat row per request; tokens summed over billed attempts."""
    usages = billed_usages(record)
    return {
        "request_id": record.request_id,
        "started_at": record.started_at,
        "started_at_iso": datetime.fromtimestamp(record.started_at, UTC).isoformat(),
        "api": record.api,
        "label": record.label,
        "routed_tier": record.routed_tier or "",
        "final_tier": record.final_tier or "",
        "attempts": len(record.attempts),
        "retries": record.retries,
        "fallbacks": record.fallbacks,
        "prompt_tokens": sum(u.prompt_tokens for u in usages),
        "cached_tokens": sum(u.cached_tokens for u in usages),
        "completion_tokens": sum(u.completion_tokens for u in usages),
        "reasoning_tokens": sum(u.reasoning_tokens for u in usages),
        "cost_usd": record.cost_usd,
        "cache_loss_usd": record.cache_loss_usd,
        "outcome": record.outcome,
        "status": record.status,
        "estimated": str(record.estimated).lower(),
        "key_id": record.key_id or "",
    }


async def export(
    store: Store,
    out: IO[str],
    *,
    since: float | None = None,
    until: float | None = None,
    fmt: ExportFormat = ExportFormat.JSONL,
    prefix: str = DEFAULT_PREFIX,
) -> int:
    """Stream the records started in [since, until) to `out`; returns how many were written."""
    return await _write(out, fmt, CSV_COLUMNS, csv_row, read_records(store, since, until, prefix=prefix))


async def _write(
    out: IO[str], fmt: ExportFormat, columns: list[str], row: Callable[[Any], dict[str, Any]], items: AsyncIterator[Any]
) -> int:
    """Each item as a JSON line, or as a CSV row under `columns`; returns how many were written."""
    count = 0
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n") if fmt is ExportFormat.CSV else None
    if writer is not None:
        writer.writeheader()
    async for item in items:
        if writer is not None:
            writer.writerow(row(item))
        else:
            out.write(orjson.dumps(item).decode() + "\n")
        count += 1
    return count


TASK_CSV_COLUMNS = [
    "task_id",
    "key_id",
    "started_at",
    "started_at_iso",
    "ended_at",
    "ended_by",
    "task_class",
    "task_class_reason",
    "arm",
    "explored",
    "pinned",
    "steps",
    "requests",
    "attempts",
    "tiers",
    "cost_usd",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "outcome",
    "outcome_source",
    "outcome_reason",
    "detected_reason",
]


def task_csv_row(task: TaskRecord) -> dict[str, Any]:
    """One flat row per task; `tiers` joined with spaces, empty cells for what is unknown."""
    return {
        "task_id": task.task_id,
        "key_id": task.key_id or "",
        "started_at": task.started_at,
        "started_at_iso": datetime.fromtimestamp(task.started_at, UTC).isoformat(),
        "ended_at": task.ended_at,
        "ended_by": task.ended_by,
        "task_class": task.task_class,
        "task_class_reason": task.task_class_reason or "",
        "arm": task.arm or "",
        "explored": str(task.explored).lower(),
        "pinned": str(task.pinned).lower(),
        "steps": task.steps,
        "requests": task.requests,
        "attempts": task.attempts,
        "tiers": " ".join(task.tiers),
        "cost_usd": task.cost_usd,
        "prompt_tokens": task.prompt_tokens,
        "cached_tokens": task.cached_tokens,
        "completion_tokens": task.completion_tokens,
        "reasoning_tokens": task.reasoning_tokens,
        "outcome": task.outcome,
        "outcome_source": task.outcome_source or "",
        "outcome_reason": task.outcome_reason or "",
        "detected_reason": task.detected_reason or "",
    }


async def export_tasks(
    store: Store,
    out: IO[str],
    *,
    since: float | None = None,
    until: float | None = None,
    fmt: ExportFormat = ExportFormat.JSONL,
    prefix: str = DEFAULT_PREFIX,
) -> int:
    """Stream the closed tasks started in [since, until) to `out`, outcomes resolved now; returns how many."""
    return await _write(out, fmt, TASK_CSV_COLUMNS, task_csv_row, TaskBook(store, prefix=prefix).read(since, until))
