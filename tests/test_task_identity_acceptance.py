"""Task identity at scale, through the openai SDK: 500+ tasks at once, none sending the task header.

Every step of a task carries the same `x-routetax-task`, and no id is given to two tasks — in one
proxy, across two replicas on one Redis, and across the workers of `serve --workers 2` (a new
connection per request, so the kernel spreads the steps over the workers). Text-protocol loops are
agentic from their second step on; a person's conversation stays single-turn.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
from openai import AsyncOpenAI

from router.servers import RunningServer
from tests.conftest import durable_config, serve_config_file
from tests.redis_server import RedisServer
from tests.running import Processes
from tests.serve_replicas import serve_replicas
from tests.task_traffic import KINDS, TaskRun, drive, splits_and_merges
from tests.test_cli import free_port, wait_until_up

TASKS = 504  # 63 of each kind


def _client(url: str, *, fresh_connections: bool = False) -> AsyncOpenAI:
    limits = httpx.Limits(max_keepalive_connections=0) if fresh_connections else httpx.Limits()
    return AsyncOpenAI(
        base_url=f"{url}/v1",
        api_key="x",
        max_retries=0,
        http_client=httpx.AsyncClient(limits=limits, timeout=30),
    )


def _drive(urls: list[str], *, fresh_connections: bool = False) -> list[TaskRun]:
    async def run() -> list[TaskRun]:
        clients = [_client(url, fresh_connections=fresh_connections) for url in urls]
        try:
            return await drive(clients, TASKS)
        finally:
            for client in clients:
                await client.close()

    return asyncio.run(run())


def _assert_one_id_per_task(runs: list[TaskRun]) -> None:
    assert Counter(run.kind for run in runs) == dict.fromkeys(KINDS, TASKS // len(KINDS))
    loops = [run for run in runs if run.kind.endswith("loop") or run.kind.endswith("_stream")]
    assert all(len(run.ids) >= 2 for run in loops), "every loop ran at least two steps"
    splits, merges = splits_and_merges(runs)
    assert [(run.kind, run.ids) for run in splits[:5]] == [], f"{len(splits)} tasks split"
    assert list(merges.items())[:5] == [], f"{len(merges)} ids merged several tasks"


def _assert_classes(runs: list[TaskRun]) -> None:
    for run in runs:
        if run.kind == "text_protocol_loop":
            assert run.classes[1:] == ["agentic"] * (len(run.classes) - 1), run.classes
        if run.kind == "conversation":
            assert set(run.classes) == {"single_turn"}, run.classes


def test_five_hundred_tasks_without_the_header_get_one_id_each(
    redis_server: RedisServer, emulator: RunningServer, start_proxy, tmp_path: Path
) -> None:
    proxy = start_proxy(durable_config(emulator.url, redis_server.url, tmp_path / "spool"))
    runs = _drive([proxy.url])
    _assert_one_id_per_task(runs)
    _assert_classes(runs)


def test_two_replicas_on_one_redis_agree_on_every_task(
    processes: Processes, redis_server: RedisServer, emulator: RunningServer, tmp_path: Path
) -> None:
    """Each replica a `routetax serve` process, as deployed: in this process, four event loops behind one GIL with
    the SDK's client made a 20 ms sleep last 500 ms, longer than any replica's write is waited for."""

    def replica_config(index: int, port: int) -> str:
        directory = tmp_path / f"replica{index}"
        directory.mkdir()
        return serve_config_file(directory, emulator.url, redis_server.url, port).read_text()

    urls, _ = serve_replicas(processes, tmp_path, 2, replica_config)
    runs = _drive(urls)  # every continuation goes to the other replica
    _assert_one_id_per_task(runs)
    _assert_classes(runs)


def test_the_workers_of_one_serve_agree_on_every_task(
    processes: Processes, redis_server: RedisServer, emulator: RunningServer, tmp_path: Path
) -> None:
    port = free_port()
    config = serve_config_file(tmp_path, emulator.url, redis_server.url, port)
    process = processes.start(
        [sys.executable, "-m", "cli", "serve", "--config", str(config), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_up(f"{url}/healthz", process)
    runs = _drive([url], fresh_connections=True)
    _assert_one_id_per_task(runs)
