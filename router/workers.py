"""`routetax serve --workers N`: N serving processes on one port, so one routetax uses every core.

The supervisor binds the listening socket once and forks N workers that all accept on it (the
kernel hands each new connection to one of them). Each worker is a complete routetax, exactly as
a replica is, and the workers share what replicas share:

- **the ledger**: one writer per worker, each with its own spool directory (`store.spool_dir/worker-<i>`,
  one process per spool by its lock); a worker that exits flushes its queue to Redis or its spool, and
  spool files left in directories no worker owns any more (fewer workers than last time, or a switch to
  or from one worker) are moved to worker 0's directory at start, so nothing waits on disk unreplayed;
- **breakers and response owners**: through Redis, as across replicas (router.shared_state);
- **cache affinity**: through Redis pub/sub, as across replicas (router.affinity_share);
- **metrics**: one scrape of `/metrics`, answered by whichever worker gets it, is the group's totals
  (metering.metrics_group says how, and why not prometheus_client's multiprocess mode).

Workers share the ledger, keys and state through Redis, so more than one worker needs
`store.redis_url` (the in-process store would give each worker its own, unshared, ledger).

On SIGTERM or SIGINT the supervisor passes SIGTERM to every worker, which stops accepting, finishes
its requests (up to 10 s) and flushes its ledger, and waits for them; a worker that dies on its own
is restarted in its place.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path
from types import FrameType

from metering.metrics_group import MetricsGroup
from metering.spool import adopt_orphans
from metering.spool import holder as spool_holder
from metering.tokens import count_text
from router.config import Config
from router.settlements import SPOOL_SUBDIR as SETTLEMENTS_SPOOL

log = logging.getLogger("routetax")

GRACE_S = 30.0  # 10 s to finish requests, 5 s to flush the ledger, and margin
RESTART_LIMIT = 5  # restarts within RESTART_WINDOW_S before the supervisor gives up
RESTART_WINDOW_S = 60.0


def worker_count(value: str) -> int:
    """`--workers`: a positive number, or `auto` for the cores this process may run on."""
    if value == "auto":
        return len(os.sched_getaffinity(0))
    count = int(value)
    if count < 1:
        raise ValueError("--workers must be at least 1 (or auto)")
    return count


def raise_fd_limit() -> int:
    """Open files up to the hard limit: every open stream holds two descriptors (client and upstream side),
    and the usual soft limit of 1,024 would refuse connections at about 500 streams. Returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    log.info("open files limit %d: at most about %d concurrent streams per process", hard, max(0, hard - 200) // 2)
    return hard


def spool_dirs(config: Config, workers: int) -> list[Path]:
    """The spool directory of each worker (one worker: store.spool_dir itself, as before workers existed)."""
    root = Path(config.store.spool_dir)
    return [root] if workers == 1 else [root / f"worker-{i}" for i in range(workers)]


def spool_in_use(config: Config, workers: int) -> tuple[Path, int] | None:
    """A spool directory this run would lock that a live process holds, with its pid (0: unknown), or None.

    Only a durable store spools to `store.spool_dir`; the in-process store's spool is a fresh temporary one.
    """
    if not config.store.durable:
        return None
    for directory in spool_dirs(config, workers):
        for candidate in (directory, directory / SETTLEMENTS_SPOOL):
            pid = spool_holder(candidate)
            if pid is not None:
                return candidate, pid
    return None


def prepare_spools(config: Config, workers: int) -> None:
    """Give records (and key settlements) left in spool directories no worker will own to worker 0's."""
    current = spool_dirs(config, workers)
    root = Path(config.store.spool_dir)
    moved = adopt_orphans(root, current)
    moved += adopt_orphans(root, [d / SETTLEMENTS_SPOOL for d in current], sub=SETTLEMENTS_SPOOL)
    if moved:
        log.warning("moved %d spool file(s) of a previous run with another worker count to %s", moved, current[0])


def serve(config: Config, host: str, port: int, workers: int) -> int:
    """Run `workers` routetax processes on host:port until SIGTERM/SIGINT; the supervisor's exit code."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    group_dir = Path(tempfile.mkdtemp(prefix="routetax-metrics-"))
    context = multiprocessing.get_context("fork")  # the workers share the supervisor's imported code
    dirs = spool_dirs(config, workers)
    stopping = False

    def start(index: int) -> multiprocessing.process.BaseProcess:
        process = context.Process(
            target=_worker,
            args=(config, index, sock, str(group_dir), str(dirs[index])),
            name=f"routetax-worker-{index}",
        )
        process.start()
        return process

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    count_text("warm")  # the tokenizer (~70 MB) loaded once here is shared by the forked workers' pages
    processes = {index: start(index) for index in range(workers)}
    log.info(
        "routetax: %d workers on http://%s:%d (pids %s)",
        workers,
        host,
        port,
        ", ".join(str(p.pid) for p in processes.values()),
    )
    restarts: list[float] = []
    code = 0
    try:
        while not stopping:
            time.sleep(0.2)
            for index, process in list(processes.items()):
                if process.is_alive() or stopping:
                    continue
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < RESTART_WINDOW_S] + [now]
                if len(restarts) > RESTART_LIMIT:
                    log.error("workers keep exiting (%d restarts in %.0f s): stopping", len(restarts), RESTART_WINDOW_S)
                    stopping, code = True, 1
                    break
                log.warning("worker %d (pid %s) exited with %s: restarting it", index, process.pid, process.exitcode)
                processes[index] = start(index)
    finally:
        for process in processes.values():
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_S
        for process in processes.values():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.error("worker pid %s did not stop within %.0f s: killed", process.pid, GRACE_S)
                process.kill()
                process.join(5)
        sock.close()
        shutil.rmtree(group_dir, ignore_errors=True)
    return code


def _worker(config: Config, index: int, sock: socket.socket, group_dir: str, spool_dir: str) -> None:
    """One worker: a complete routetax on the shared socket, with its own spool and metrics snapshot."""
    import uvicorn

    from metering.logs import output
    from metering.pipeline import MeteringPipeline
    from router.app import create_app
    from router.log_setup import configure_logging
    from router.metering_settings import metering_settings
    from router.servers import DrainingServer

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # uvicorn installs its own handlers when it starts
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    configure_logging(config)  # the supervisor's writer thread did not cross the fork: this worker's own
    config = config.model_copy(update={"store": config.store.model_copy(update={"spool_dir": spool_dir})})
    metering = MeteringPipeline(metering_settings(config))
    metering.group = MetricsGroup(group_dir, index, metering.metrics.registry)
    app = create_app(config, metering)
    server = DrainingServer(
        uvicorn.Config(
            app,
            loop="uvloop",
            http=app.http_protocol,
            access_log=False,
            log_level="warning",
            log_config=None,
            timeout_graceful_shutdown=10,
        )
    )
    log.info("worker %d (pid %d) serving", index, os.getpid(), extra={"worker": index})
    try:
        server.run(sockets=[sock])
    finally:
        output.stop()  # a forked process skips atexit: what waits in the queue is written now
