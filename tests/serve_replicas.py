"""`routetax serve` replicas as real processes for the scale-out tests: each its own config file and spool,
started through the `processes` fixture (tests/running.py) and waited for until it answers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.running import Processes
from tests.test_cli import free_port, wait_until_up


def serve_replicas(
    processes: Processes,
    tmp_path: Path,
    count: int,
    config_of: Callable[[int, int], str],
    env: dict[str, str] | None = None,
) -> tuple[list[str], list[subprocess.Popen[str]]]:
    """Start `count` replicas, replica i reading the YAML `config_of(i, port)`; their URLs and processes."""
    urls, started = [], []
    for index in range(count):
        port = free_port()
        config = tmp_path / f"replica{index}.yaml"
        config.write_text(config_of(index, port))
        process = processes.start(
            [sys.executable, "-m", "cli", "serve"],
            env={**os.environ, **(env or {}), "ROUTETAX_CONFIG": str(config)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        urls.append(f"http://127.0.0.1:{port}")
    for url, process in zip(urls, started, strict=True):
        wait_until_up(f"{url}/healthz", process)
    return urls, started
