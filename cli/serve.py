"""`routetax serve`: the proxy, in one process or `--workers N` on the one port."""

from __future__ import annotations

import argparse
import logging
import sys

from cli.command import Subparsers, load_config_or_say


def register(subparsers: Subparsers) -> None:
    serve = subparsers.add_parser("serve", help="run the proxy: route, relay and meter OpenAI-compatible requests")
    serve.add_argument("--config", help="YAML configuration file (default: $ROUTETAX_CONFIG, else built-in defaults)")
    serve.add_argument("--host", help="listen address (default: server.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: server.port, 4000)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--workers", default="1", help="serving processes on the one port: a number, or auto for every core (default 1)"
    )
    serve.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from router import workers
    from router.app import create_app
    from router.servers import DrainingServer

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config_or_say(args.config, "routetax")
    if config is None:
        return 2
    host = args.host or config.server.host
    port = config.server.port if args.port is None else args.port
    log = logging.getLogger("routetax")
    log.info("tiers: %s", ", ".join(f"{n}={t.model}@{t.base_url}" for n, t in config.tiers.items()))
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
    in_use = workers.spool_in_use(config, count)
    if in_use is not None:
        directory, pid = in_use
        holder = f"routetax process {pid}" if pid else "another routetax process"
        print(
            f"routetax: the spool directory {directory} is in use by {holder}; "
            "give this one its own store.spool_dir (ROUTETAX_STORE__SPOOL_DIR)",
            file=sys.stderr,
        )
        return 2
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
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=10,
        )
    )
    server.run()
    return 0 if server.started else 3  # uvicorn's own exit code when the app could not start
