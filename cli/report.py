"""`routetax report`: the routing tax, model vs measured, read from the ledger of the configured store."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import orjson

from cli.command import Subparsers
from metering.store import open_store
from metering.tax.report_text import print_report
from router.config import ConfigError, load_config
from router.report import WINDOWS, WindowError, report_from_store, report_window


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="print the routing tax measured from the ledger over a window, beside the model",
        description="Model vs measured routing tax.",
    )
    parser.add_argument("--config", help="YAML configuration (default: $ROUTETAX_CONFIG)")
    parser.add_argument(
        "--window",
        choices=sorted(WINDOWS),
        default="24h",
        help="the last hour, day or week (router and GPU hours charged for all of it)",
    )
    parser.add_argument("--since", help="the window's start instead (ISO-8601, unix seconds, or 1h for an hour ago)")
    parser.add_argument("--until", help="the window's end (default: now)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        window = report_window(args.window, args.since, args.until, time.time())
    except (ConfigError, WindowError) as exc:
        print(f"routetax report: {exc}", file=sys.stderr)
        return 2
    since, until = window.since, window.until
    if config.store.redis_url is None:
        print("routetax report: no store.redis_url configured: there is no ledger to read", file=sys.stderr)
        return 2
    redis_url, cluster = config.store.redis_url, config.store.cluster

    async def read() -> dict[str, Any]:
        store = open_store(redis_url, cluster=cluster)
        try:
            return await report_from_store(store, since, until, config)
        finally:
            await store.aclose()

    try:
        report = asyncio.run(read())
    except OSError as exc:
        print(f"routetax report: cannot read the ledger: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # redis errors are many; all mean the same to the user
        print(f"routetax report: cannot read the ledger: {exc}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print_report(report)
    return 0
