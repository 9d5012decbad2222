"""`routetax report`: the routing tax, model vs measured, read from the ledger."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import orjson

from metering.feedback import FeedbackStore
from metering.ledger import read_records
from metering.ledger_cli import parse_time
from metering.store import open_store
from metering.tax_report import TREND_MIN_SPAN_S, Assumptions, build_report
from router.config import ConfigError, load_config

WINDOWS = {"1h": 3600, "24h": 86400, "7d": 7 * 86400}


async def report_from_store(
    store: Any, since: float, until: float, router_hour_usd: float = 0.0, classifier_usd_per_request: float = 0.0
) -> dict[str, Any]:
    records = [record async for record in read_records(store, since, until)]
    feedback = await FeedbackStore(store).all()
    assumptions = Assumptions(router_hour_usd, (until - since) / 3600, classifier_usd_per_request)
    report = build_report(records, feedback, assumptions)
    report["window"] = {"since": since, "until": until}
    return report


def print_report(report: dict[str, Any]) -> None:
    m, model = report["measured"], report["model"]

    def pct(value: float | None) -> str:
        return "not measured" if value is None else f"{value:.1%}"

    def share(value: float | None) -> str:
        return "not measured" if value is None else f"{value:.3f}"

    spend = m["spend"]
    print(f"{m['requests']} requests; router cost assumed ${report['assumptions']['router_hour_usd']}/hour")
    print(f"{'':<34}{'model':>16}{'measured':>16}")
    print(f"{'agentic share':<34}{'':>16}{pct(m['agentic_share']):>16}")
    low, high = model["routing_overhead"]
    print(f"{'routing overhead':<34}{f'{low:.0%}–{high:.0%}':>16}{pct(m['routing_overhead']):>16}")
    for part, value in m["overhead_parts"].items():
        print(f"{'  ' + part:<34}{'':>16}{pct(value):>16}")
    print(
        f"{'break-even agentic share':<34}{share(model['break_even_agentic_share']):>16}"
        f"{share(m['break_even_agentic_share']):>16}"
    )
    print(f"{'savings vs mini-only':<34}{'':>16}{pct(m['savings_vs_mini']):>16}")
    trend, weeks = m.get("agentic_share_trend_per_week"), m.get("weeks_to_break_even")
    if trend is not None:
        crossing = f", crossing break-even in {weeks:.1f} weeks" if weeks is not None else ""
        print(f"agentic share trend: {trend:+.3f} per week{crossing}")
    else:
        print(f"agentic share trend: not measured (needs {TREND_MIN_SPAN_S // 3600:.0f} h of traffic in the window)")
    for tier, classes in sorted(m["success_rate"].items()):
        for label, rate in sorted(classes.items()):
            published = model["success_rate"].get(tier, {}).get(label)
            print(
                f"{'success ' + tier + ' × ' + label:<34}{share(published) if published else '':>16}{share(rate):>16}"
            )
    print(
        f"spend: actual ${spend['actual']:.6f}, ideal ${spend['ideal']:.6f}, "
        + ", ".join(f"{b}-only ${v:.6f}" for b, v in sorted(spend["counterfactual"].items()))
    )
    for tier, value in sorted(m["cost_per_completed_task"].items()):
        print(f"cost per completed task on {tier}: " + ("not measured" if value is None else f"${value:.6f}"))
    latency = m["latency_overhead_ms"]
    if latency["p50"] is not None:
        print(f"latency overhead: p50 {latency['p50']:.3f} ms, p99 {latency['p99']:.3f} ms")
    print(f"verdict: {report['verdict']['text']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="routetax report", description="Model vs measured routing tax.")
    parser.add_argument("--config", help="YAML configuration (default: $ROUTETAX_CONFIG)")
    parser.add_argument("--window", choices=sorted(WINDOWS), default="24h")
    parser.add_argument("--since")
    parser.add_argument("--until")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        until = parse_time(args.until) if args.until else time.time()
        since = parse_time(args.since) if args.since else until - WINDOWS[args.window]
    except (ConfigError, ValueError) as exc:
        print(f"routetax report: {exc}", file=sys.stderr)
        return 2
    if config.store.redis_url is None:
        print("routetax report: no store.redis_url configured: there is no ledger to read", file=sys.stderr)
        return 2

    async def run() -> dict[str, Any]:
        store = open_store(config.store.redis_url, cluster=config.store.cluster)
        try:
            return await report_from_store(
                store, since, until, config.report.router_hour_usd, config.report.classifier_usd_per_request
            )
        finally:
            await store.aclose()

    try:
        report = asyncio.run(run())
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
