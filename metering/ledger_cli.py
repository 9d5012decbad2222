"""`routetax ledger export`: the ledger's records as JSON lines or CSV, for a time range.

JSON lines carry every field of every record (attempts included) — the lossless export.
CSV flattens one row per request for a spreadsheet; tokens and cost there are summed over
the request's billed attempts, which is what was paid for.

Exit codes: 0 done, 1 Redis unreachable, 2 bad arguments (an unparseable time, say).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import IO, Any

import orjson
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from metering.ledger import DEFAULT_PREFIX, billed_usages, read_records
from metering.record import Record
from metering.store import open_store
from metering.timespec import parse_time

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="routetax ledger", description="Read the durable ledger in Redis.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    export = sub.add_parser("export", help="write records (by their start time) as JSON lines or CSV")
    export.add_argument("--since", type=parse_time, help="from this time (ISO-8601, unix seconds, or 1h/24h/7d ago)")
    export.add_argument("--until", type=parse_time, help="up to (not including) this time")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument(
        "--redis-url",
        default=os.environ.get("ROUTETAX_STORE__REDIS_URL") or DEFAULT_REDIS_URL,
        help="default: $ROUTETAX_STORE__REDIS_URL, else %(default)s",
    )
    export.add_argument("--cluster", action="store_true", help="the URL names a Redis Cluster node")
    export.add_argument("--prefix", default=DEFAULT_PREFIX, help="key prefix (default: %(default)s)")
    export.add_argument("--output", "-o", help="write here instead of standard output")
    return parser


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


async def export(args: argparse.Namespace, out: IO[str]) -> int:
    """Stream records to `out`; returns how many were written."""
    store = open_store(args.redis_url, cluster=args.cluster)
    count = 0
    try:
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n") if args.format == "csv" else None
        if writer is not None:
            writer.writeheader()
        async for record in read_records(store, args.since, args.until, prefix=args.prefix):
            if writer is not None:
                writer.writerow(csv_row(record))
            else:
                out.write(orjson.dumps(record).decode() + "\n")
            count += 1
    finally:
        await store.aclose()
    return count


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"//[^@/]*@", "//***@", url)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse's own errors (exit 2) and --help (exit 0)
        return int(exc.code or 0)
    if args.since is not None and args.until is not None and args.until <= args.since:
        print("routetax ledger: --until must be after --since", file=sys.stderr)
        return 2
    out: IO[str] = open(args.output, "w", newline="") if args.output else sys.stdout
    try:
        count = asyncio.run(export(args, out))
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        print(f"routetax ledger: cannot reach Redis at {_redact(args.redis_url)}: {exc}", file=sys.stderr)
        return 1
    finally:
        if out is not sys.stdout:
            out.close()
        else:
            out.flush()
    print(f"routetax ledger: exported {count} record(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
