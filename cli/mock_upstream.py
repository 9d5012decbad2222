"""`routetax mock-upstream`: the upstream emulator on a port, speaking one dialect."""

from __future__ import annotations

import argparse
import logging
import sys

from cli.command import Subparsers

# emulator.app.EMULATED_DIALECTS, written out: the image leaves the emulator out, so the parser every command
# builds must not import it (tests/test_dialects.py holds the two equal).
EMULATED_DIALECTS = ("openai", "vllm", "ollama")


def register(subparsers: Subparsers) -> None:
    mock = subparsers.add_parser(
        "mock-upstream",
        help="serve emulated upstreams (OpenAI, vLLM or Ollama dialect) for a dry run without a provider",
        description="An upstream emulator over real HTTP: chat completions, Responses, embeddings and models, with "
        "scripted faults (POST /_mock/script) and the headers of recent requests (GET /_mock/headers).",
    )
    mock.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    mock.add_argument("--port", type=int, default=9000, help="listen port (default 9000)")
    mock.add_argument(
        "--dialect",
        default="openai",
        choices=EMULATED_DIALECTS,
        help="the upstream to impersonate (default openai; llama.cpp is served by the real engine, see demo --qwen)",
    )
    mock.add_argument("--latency-ms", type=float, default=0.0, help="added before each answer")
    mock.add_argument("--seed", type=int, default=None, help="write the same answers on every run")
    mock.add_argument(
        "--api-key", default=None, help="refuse requests without `Authorization: Bearer KEY`, as OpenAI does (401)"
    )
    mock.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from emulator.app import build_emulator

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("routetax").info(
        "mock upstream (%s dialect) on http://%s:%d/v1", args.dialect, args.host, args.port
    )
    try:
        app = build_emulator(dialect=args.dialect, latency_ms=args.latency_ms, seed=args.seed, api_key=args.api_key)
    except ValueError as exc:  # a registered dialect it does not impersonate
        print(f"routetax mock-upstream: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        app, host=args.host, port=args.port, loop="uvloop", http="httptools", access_log=False, log_level="warning"
    )
    return 0
