"""`routetax ledger export`: the ledger's records (or, with `--tasks`, its task records), as JSON lines or
CSV, for a time range.

The store is `--redis-url` when given, else the configuration's (`--config`, `$ROUTETAX_CONFIG`,
`ROUTETAX_STORE__*`), else a local Redis. Exit codes: 0 done, 1 Redis unreachable, 2 bad arguments
(an unparseable time, say).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from typing import IO

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cli.command import Subparsers, load_config_or_say
from metering.ledger import DEFAULT_PREFIX
from metering.ledger_export import ExportFormat, export, export_tasks
from metering.store import open_store
from metering.timespec import parse_time

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "ledger",
        help="export request and task records from the ledger in Redis (jsonl or csv)",
        description="Read the durable ledger in Redis.",
    )
    parser.add_argument("--config", help="YAML configuration naming the store (default: $ROUTETAX_CONFIG)")
    sub = parser.add_subparsers(dest="ledger_command", required=True, metavar="COMMAND")
    export_parser = sub.add_parser("export", help="write records (by their start time) as JSON lines or CSV")
    export_parser.add_argument(
        "--since", type=parse_time, help="from this time (ISO-8601, unix seconds, or 1h/24h/7d ago)"
    )
    export_parser.add_argument("--until", type=parse_time, help="up to (not including) this time")
    export_parser.add_argument("--format", choices=[f.value for f in ExportFormat], default=ExportFormat.JSONL.value)
    export_parser.add_argument(
        "--tasks",
        action="store_true",
        help="task records instead of requests: one per closed task, with its outcome and its source",
    )
    export_parser.add_argument(
        "--redis-url",
        help="default: the configuration's store.redis_url, else $ROUTETAX_STORE__REDIS_URL, else " + DEFAULT_REDIS_URL,
    )
    export_parser.add_argument("--cluster", action="store_true", help="the URL names a Redis Cluster node")
    export_parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="key prefix (default: %(default)s)")
    export_parser.add_argument("--output", "-o", help="write here instead of standard output")
    export_parser.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    export_parser.set_defaults(run=run_export)


def _store_of(args: argparse.Namespace) -> tuple[str, bool] | None:
    """The Redis URL and whether it is a cluster, or None after saying why the configuration cannot be read."""
    if args.redis_url is not None:
        return args.redis_url, args.cluster
    config = load_config_or_say(args.config, "routetax ledger")
    if config is None:
        return None
    if config.store.redis_url is not None:
        return config.store.redis_url, args.cluster or config.store.cluster
    return os.environ.get("ROUTETAX_STORE__REDIS_URL") or DEFAULT_REDIS_URL, args.cluster


def run_export(args: argparse.Namespace) -> int:
    if args.since is not None and args.until is not None and args.until <= args.since:
        print("routetax ledger: --until must be after --since", file=sys.stderr)
        return 2
    store_at = _store_of(args)
    if store_at is None:
        return 2
    redis_url, cluster = store_at
    out: IO[str] = open(args.output, "w", newline="") if args.output else sys.stdout

    async def run() -> int:
        store = open_store(redis_url, cluster=cluster)
        try:
            writer = export_tasks if args.tasks else export
            return await writer(
                store, out, since=args.since, until=args.until, fmt=ExportFormat(args.format), prefix=args.prefix
            )
        finally:
            await store.aclose()

    try:
        count = asyncio.run(run())
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        print(f"routetax ledger: cannot reach Redis at {_redact(redis_url)}: {exc}", file=sys.stderr)
        return 1
    finally:
        if out is not sys.stdout:
            out.close()
        else:
            out.flush()
    print(f"routetax ledger: exported {count} {'task' if args.tasks else 'record'}(s)", file=sys.stderr)
    return 0


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"//[^@/]*@", "//***@", url)
