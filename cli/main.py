"""One parser for every `routetax` subcommand, and the dispatch to the command that was asked for."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from cli import audit, demo, eval_classifier, keys, ledger, mock_upstream, model, price, report, serve

COMMANDS = (serve, mock_upstream, demo, eval_classifier, price, ledger, model, audit, report, keys)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="routetax",
        description="A live model router proxy with metering: routes OpenAI-compatible traffic between tiers "
        "and measures what routing really costs.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code (argparse's own 2 for bad arguments, 0 after --help) is returned, not raised."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    return int(args.run(args))
