"""`routetax mock-upstream`: the upstream emulator on a port, speaking one dialect."""

from __future__ import annotations

import argparse
import logging
import sys

from cli.command import Subparsers
from router.dialects import dialect_names


def register(subparsers: Subparsers) -> None:
    mock = subparsers.add_parser("mock-upstream", help="run the upstream emulator (OpenAI, vLLM or Ollama dialect)")
    mock.add_argument("--host", default="127.0.0.1")
    mock.add_argument("--port", type=int, default=9000)
    mock.add_argument("--dialect", default="openai", choices=dialect_names())
    mock.add_argument("--latency-ms", type=float, default=0.0, help="added before each answer")
    mock.add_argument("--seed", type=int, default=None)
    mock.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from emulator.app import build_emulator

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("routetax").info(
        "mock upstream (%s dialect) on http://%s:%d/v1", args.dialect, args.host, args.port
    )
    try:
        app = build_emulator(dialect=args.dialect, latency_ms=args.latency_ms, seed=args.seed)
    except ValueError as exc:  # a registered dialect it does not impersonate
        print(f"routetax mock-upstream: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        app, host=args.host, port=args.port, loop="uvloop", http="httptools", access_log=False, log_level="warning"
    )
    return 0
