"""The `routetax` command: serve, mock-upstream, demo, and the metering and classifier tools.

Subcommands that belong to another package (`price`, `ledger`, `eval-classifier`) are
delegated to that package's own `main(argv)`, so each tool lives next to the code it
exercises and this module stays a thin dispatcher.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from router.dialects import dialect_names

_DELEGATED = {
    "eval-classifier": "classifier.evaluate",
    "price": "metering.price_cli",
    "ledger": "metering.ledger_cli",
    "model": "metering.model_cli",
    "audit": "metering.audit.cli",
    "report": "router.report_cli",
    "keys": "router.keys_cli",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="routetax",
        description="A live model router proxy with metering: routes OpenAI-compatible traffic between tiers "
        "and measures what routing really costs.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the proxy")
    serve.add_argument("--config", help="YAML configuration file (default: $ROUTETAX_CONFIG, else built-in defaults)")
    serve.add_argument("--host", help="listen address (default: server.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: server.port, 4000)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--workers", default="1", help="serving processes on the one port: a number, or auto for every core (default 1)"
    )

    mock = sub.add_parser("mock-upstream", help="run the upstream emulator (OpenAI, vLLM or Ollama dialect)")
    mock.add_argument("--host", default="127.0.0.1")
    mock.add_argument("--port", type=int, default=9000)
    mock.add_argument("--dialect", default="openai", choices=dialect_names())
    mock.add_argument("--latency-ms", type=float, default=0.0, help="added before each answer")
    mock.add_argument("--seed", type=int, default=None)

    demo = sub.add_parser("demo", help="run emulated upstreams + the proxy and drive traffic through them")
    demo.add_argument("--config", help="YAML configuration (tiers are pointed at the emulator)")
    demo.add_argument("--requests", type=int, default=300)
    demo.add_argument("--agentic-share", type=float, default=0.3)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument(
        "--explore",
        type=float,
        default=0.2,
        help="share of auto traffic sent to a random tier so every tier x class is measured (default 0.2)",
    )
    demo.add_argument(
        "--qwen",
        choices=["emulated", "local"],
        default="emulated",
        help="local: serve the qwen tier with a real llama.cpp engine and a tiny Qwen3 model (built on first use)",
    )
    demo.add_argument("--llama-server", metavar="PATH", help="with --qwen local: use this llama-server binary")
    demo.add_argument("--json", action="store_true")
    demo.add_argument("--port", type=int, default=0, help="proxy port (default: a free one)")
    demo.add_argument(
        "--keep-running", action="store_true", help="after the demo, keep proxy and emulator up for your own client"
    )

    for name in _DELEGATED:
        sub.add_parser(name, help=f"see `routetax {name} --help`", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in _DELEGATED:
        rest = args_list[1:]
        if args_list[0] == "ledger":
            rest = _with_store_from_config(rest)
        elif args_list[0] == "price":
            rest = _with_tier_models(rest)
        if rest is None:
            return 2
        module = importlib.import_module(_DELEGATED[args_list[0]])
        return int(module.main(rest) or 0)
    args = _parser().parse_args(args_list)
    if args.command == "serve":
        return _serve(args)
    if args.command == "mock-upstream":
        return _mock_upstream(args)
    if args.command == "demo":
        from demo.world import run_demo

        return run_demo(args)
    return 2


def _pop_config(argv: list[str], command: str) -> tuple[list[str], str | None] | None:
    """Take `--config FILE` out of a delegated command's arguments (None: --config without a file)."""
    if "--config" not in argv:
        return argv, None
    at = argv.index("--config")
    if at + 1 >= len(argv):
        print(f"routetax {command}: --config needs a file", file=sys.stderr)
        return None
    return argv[:at] + argv[at + 2 :], argv[at + 1]


def _with_tier_models(argv: list[str]) -> list[str] | None:
    """`routetax price --model nano`: a tier name (of the configuration, or the defaults) stands for its model.

    The price tool lives in `metering`, which does not read routetax's configuration.
    """
    from router.config import ConfigError, load_config

    popped = _pop_config(argv, "price")
    if popped is None:
        return None
    argv, config_file = popped
    if "--model" not in argv or argv.index("--model") + 1 >= len(argv):
        return argv
    at = argv.index("--model") + 1
    try:
        tiers = load_config(config_file).tiers
    except ConfigError as exc:
        print(f"routetax price: {exc}", file=sys.stderr)
        return None
    if argv[at] in tiers:
        argv = [*argv[:at], tiers[argv[at]].model, *argv[at + 1 :]]
    return argv


def _with_store_from_config(argv: list[str]) -> list[str] | None:
    """`routetax ledger ... [--config FILE]`: the store comes from the configuration unless --redis-url is given.

    The ledger tool lives in `metering`, which does not read routetax's configuration; this
    resolves `--config` / `ROUTETAX_CONFIG` / `ROUTETAX_STORE__*` into its `--redis-url`.
    """
    from router.config import ConfigError, load_config

    popped = _pop_config(argv, "ledger")
    if popped is None:
        return None
    argv, config_file = popped
    if any(a == "--redis-url" or a.startswith("--redis-url=") for a in argv) or not argv or argv[0] != "export":
        return argv
    try:
        store = load_config(config_file).store
    except ConfigError as exc:
        print(f"routetax ledger: {exc}", file=sys.stderr)
        return None
    if store.redis_url is None:
        return argv
    return [*argv, "--redis-url", store.redis_url, *(["--cluster"] if store.cluster else [])]


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from router.app import create_app
    from router.config import ConfigError, load_config

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"routetax: {exc}", file=sys.stderr)
        return 2
    host = args.host or config.server.host
    port = config.server.port if args.port is None else args.port
    log = logging.getLogger("routetax")
    log.info("tiers: %s", ", ".join(f"{n}={t.model}@{t.base_url}" for n, t in config.tiers.items()))
    from router import workers

    try:
        count = workers.worker_count(args.workers)
    except ValueError:
        print(f"routetax: --workers must be a positive number or auto, got {args.workers!r}", file=sys.stderr)
        return 2
    if count > 1 and config.store.redis_url is None:
        print(
            "routetax: --workers above 1 needs store.redis_url: workers share the ledger through Redis", file=sys.stderr
        )
        return 2
    workers.raise_fd_limit()
    workers.prepare_spools(config, count)
    if count > 1:
        return workers.serve(config, host, port, count)
    app = create_app(config)
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http=app.http_protocol,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )
    return 0


def _mock_upstream(args: argparse.Namespace) -> int:
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


if __name__ == "__main__":
    raise SystemExit(main())
