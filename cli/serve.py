"""`routetax serve`: the proxy, in one process or `--workers N` on the one port."""

from __future__ import annotations

import argparse
import logging

from cli.command import Subparsers, load_config_or_say


def register(subparsers: Subparsers) -> None:
    serve = subparsers.add_parser("serve", help="run the proxy: route, relay and meter OpenAI-compatible requests")
    serve.add_argument("--config", help="YAML configuration file (default: $ROUTETAX_CONFIG, else built-in defaults)")
    serve.add_argument("--host", help="listen address (default: server.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: server.port, 4000)")
    serve.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="lowest level logged (default: log.level, info)",
    )
    serve.add_argument(
        "--log-format",
        choices=["json", "text"],
        help="json lines for a log pipeline, or text for a terminal (default: log.format, json; docs/logging.md)",
    )
    serve.add_argument(
        "--workers", default="1", help="serving processes on the one port: a number, or auto for every core (default 1)"
    )
    serve.set_defaults(run=run)


def _refuse(message: str) -> int:
    """A refusal to start, once logging is configured: one ERROR line in the log's format (a JSON line where the
    log is JSON — a plain print would be the one line a log pipeline cannot read, and could be cut by the
    log writer's lines), then exit 2."""
    logging.getLogger("routetax").error(message, extra={"event": "start_refused"})
    return 2


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from router import workers
    from router.app import create_app
    from router.log_setup import configure_logging
    from router.servers import DrainingServer

    config = load_config_or_say(args.config, "routetax")
    if config is None:
        return 2
    log_settings = config.log.model_copy(
        update={k: v for k, v in (("format", args.log_format), ("level", args.log_level)) if v is not None}
    )
    config = config.model_copy(update={"log": log_settings})  # the workers log as this process does
    configure_logging(config)
    host = args.host or config.server.host
    port = config.server.port if args.port is None else args.port
    log = logging.getLogger("routetax")
    log.info("tiers: %s", ", ".join(f"{n}={t.model}@{t.base_url}" for n, t in config.tiers.items()))
    try:
        count = workers.worker_count(args.workers)
    except ValueError:
        return _refuse(f"routetax: --workers must be a positive number or auto, got {args.workers!r}")
    if count > 1 and config.store.redis_url is None:
        return _refuse("routetax: --workers above 1 needs store.redis_url: workers share the ledger through Redis")
    in_use = workers.spool_in_use(config, count)
    if in_use is not None:
        directory, pid = in_use
        holder = f"routetax process {pid}" if pid else "another routetax process"
        return _refuse(
            f"routetax: the spool directory {directory} is in use by {holder}; "
            "give this one its own store.spool_dir (ROUTETAX_STORE__SPOOL_DIR)"
        )
    workers.raise_fd_limit()
    workers.prepare_spools(config, count)
    if count > 1:
        return workers.serve(config, host, port, count)
    app = create_app(config)
    server = DrainingServer(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            loop="uvloop",
            http=app.http_protocol,
            access_log=False,  # routetax's own access log (log.access) says more: tiers, tokens, cost
            log_level="warning",
            log_config=None,  # uvicorn's lines go through routetax's handler, in its format
            timeout_graceful_shutdown=10,
        )
    )
    server.run()
    return 0 if server.started else 3  # uvicorn's own exit code when the app could not start
