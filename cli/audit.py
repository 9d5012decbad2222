"""`routetax audit PATH...`: the routing-tax answer from request logs a team already has.

Exit codes: 0 when at least one request was read, 2 when none was (the answer then says so,
with no verdict), when two Batch lines collide (one batch and custom_id, different content), or
when the arguments are bad. Progress and the reading's warnings go to standard error (progress on
a terminal only); the report to standard output.
"""

from __future__ import annotations

import argparse
import sys

import orjson

from cli.audit_reports import add_report_arguments, check_reports, stdout_page, write_reports
from cli.command import Subparsers
from metering.audit.batch import BatchCollision
from metering.audit.formats import Format
from metering.audit.reading import no_requests, reading
from metering.audit.scan import ScanOptions, Window, scan
from metering.audit.sources import Progress, Source
from metering.tax.assumptions import Assumptions
from metering.tax.audit import project
from metering.tax.audit_tasks import project_tasks
from metering.tax.audit_text import render
from metering.tax.roles import DEFAULT_ROLES, Role
from metering.timespec import parse_time


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive whole number")
    return value


def _price(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < 10_000:
        raise argparse.ArgumentTypeError("must be between 0 and 10000 (USD per GPU-hour)")
    return value


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "audit",
        help="answer the routing-tax question from request logs you already have",
        description="Read request logs (OpenAI Batch files, request bodies, request/response pairs, LiteLLM spend "
        "logs; gzip or plain; - for standard input) and answer whether routing would pay, before deploying anything.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="log files (.jsonl or .jsonl.gz) or - for standard input")
    p.add_argument(
        "--format", default="auto", choices=[f.value for f in Format], help="line format (default: auto, per line)"
    )
    p.add_argument("--since", type=parse_time, help="only requests at or after T (ISO-8601, unix seconds, or 7d)")
    p.add_argument("--until", type=parse_time, help="only requests before T")
    p.add_argument("--calls-per-month", type=_positive_int, help="project to this volume (default: the logs' rate)")
    p.add_argument("--gpu-hour-usd", type=_price, help="self-hosted Qwen: cost of one GPU-hour (amortised view)")
    p.add_argument("--gpus", type=_positive_int, default=1, help="GPUs the Qwen tier keeps running (default 1)")
    p.add_argument(
        "--output-tokens",
        type=_positive_int,
        default=None,
        help="completion tokens per request where no answer of that class was logged (default: 151 single-turn, "
        "46 agentic, measured means of real answers)",
    )
    p.add_argument("--exact-tokens", action="store_true", help="tokenise every unlogged prompt (slow), not a sample")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_report_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.since is not None and args.until is not None and args.since >= args.until:
        print("routetax audit: --since must be before --until", file=sys.stderr)
        return 2
    problem = check_reports(args)
    if problem is not None:
        print(f"routetax audit: {problem}", file=sys.stderr)
        return 2
    options = ScanOptions(Format(args.format), Window(args.since, args.until), args.exact_tokens)
    try:
        tally = scan(
            [Source(path) for path in args.paths],
            options,
            Progress(force=args.progress),
            warn=lambda message: print(f"routetax audit: {message}", file=sys.stderr),
        )
    except BatchCollision as exc:
        print(f"routetax audit: {exc}", file=sys.stderr)
        return 2
    if tally.requests:
        assumptions = Assumptions(
            calls_per_month=args.calls_per_month,
            gpu_hour_usd={} if args.gpu_hour_usd is None else {DEFAULT_ROLES[Role.SELF_HOSTED]: args.gpu_hour_usd},
            gpus=args.gpus,
            output_tokens=args.output_tokens,
        )
        result = project(tally, assumptions)
        result["reading"] = reading(tally, options.fmt)
        result["tasks"] = project_tasks(tally, result, assumptions)
    else:
        result = no_requests(tally, options.fmt)
    for warning in result["reading"]["warnings"]:
        print(f"routetax audit: {warning}", file=sys.stderr)
    try:
        for path in write_reports(result, args):
            print(f"routetax audit: report written to {path}", file=sys.stderr)
    except OSError as exc:
        print(f"routetax audit: cannot write the report: {exc}", file=sys.stderr)
        return 2
    page = stdout_page(result, args)
    if page is not None:
        sys.stdout.write(page)
    elif args.json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n")
    else:
        sys.stdout.write(render(result))
    if not tally.requests:
        print(
            f"routetax audit: no request could be read from {tally.lines:,} lines"
            + (f" ({', '.join(f'{k} {v}' for k, v in tally.skipped.most_common())})" if tally.skipped else ""),
            file=sys.stderr,
        )
        return 2
    return 0
