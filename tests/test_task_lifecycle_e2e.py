"""A task's whole life through the openai SDK, two replicas in keys mode on one Redis: its steps, its end,
its outcome, and its record in `routetax ledger export --tasks` — with nothing but what a client sends.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from cli import main as routetax
from router.servers import RunningServer
from tests.conftest import serve_config_file
from tests.redis_server import RedisServer
from tests.running import Processes
from tests.task_traffic import TOOLS
from tests.test_cli import free_port, wait_until_up
from tests.test_metering_e2e import ledger_records
from tests.waiting import wait_until


def _sdk(proxy, key: str) -> OpenAI:
    return OpenAI(base_url=f"{proxy.url}/v1", api_key=key, max_retries=0)


def _tool_loop(first: OpenAI, second: OpenAI, order: str, end: bool = False) -> list[str]:
    """Two steps (a tool call, then the answer after its result), one on each replica; each step's task id."""
    messages: list[dict] = [{"role": "user", "content": f"Where is order {order}? Look it up."}]
    raw = first.chat.completions.with_raw_response.create(model="auto", messages=messages, tools=TOOLS)
    message = raw.parse().choices[0].message
    messages.append(message.model_dump(exclude_none=True))
    messages += [{"role": "tool", "tool_call_id": c.id, "content": '{"status": "shipped"}'} for c in message.tool_calls]
    headers = {"x-routetax-task-end": "true"} if end else None
    last = second.chat.completions.with_raw_response.create(
        model="auto", messages=messages, tools=TOOLS, extra_headers=headers
    )
    return [raw.headers["x-routetax-task"], last.headers["x-routetax-task"]]


def _exported_tasks(redis_url: str, capsys: pytest.CaptureFixture[str]) -> dict[str, dict]:
    assert routetax(["ledger", "export", "--tasks", "--redis-url", redis_url]) == 0
    return {row["task_id"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}


def test_a_task_is_recorded_with_its_steps_cost_and_the_outcome_its_owner_gave_it(
    keyed, redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, keys = keyed
    owner, other = keys("create", "--name", "agents", "--json"), keys("create", "--name", "others", "--json")
    judged = _tool_loop(_sdk(first, owner["key"]), _sdk(second, owner["key"]), "A-1")
    ended = _tool_loop(_sdk(second, owner["key"]), _sdk(first, owner["key"]), "A-2", end=True)
    assert judged[0] == judged[1] and ended[0] == ended[1] and judged[0] != ended[0]

    verdict = {"task": judged[0], "success": False, "reason": "the refund was never issued"}
    refused = httpx.post(f"{first.url}/v1/feedback", json=verdict, headers={"authorization": f"Bearer {other['key']}"})
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "task_not_found"
    taken = httpx.post(f"{second.url}/v1/feedback", json=verdict, headers={"authorization": f"Bearer {owner['key']}"})
    assert taken.status_code == 200, taken.text

    tasks: dict[str, dict] = {}

    def both_closed() -> bool:
        tasks.update(_exported_tasks(redis_server.url, capsys))
        return {judged[0], ended[0]} <= set(tasks)

    wait_until(both_closed, "both tasks closed (feedback and the end header: a 5 s grace)", timeout_s=30)
    failed, unknown = tasks[judged[0]], tasks[ended[0]]
    assert (failed["outcome"], failed["outcome_source"], failed["ended_by"]) == ("failure", "feedback", "feedback")
    assert (unknown["outcome"], unknown["outcome_source"], unknown["ended_by"]) == ("unknown", None, "client")
    assert failed["key_id"] == owner["id"] and failed["steps"] == 2 and failed["requests"] == 2

    steps = [r for r in ledger_records(redis_server.url) if r.task_id == judged[0]]
    assert [r.task_step for r in sorted(steps, key=lambda r: r.started_at)] == [1, 2]
    assert failed["cost_usd"] == pytest.approx(sum(r.cost_usd for r in steps), rel=1e-12)
    assert failed["arm"] == steps[0].routed_tier


def test_a_proxy_killed_mid_task_loses_no_task_record_the_next_one_closes_it(
    processes: Processes,
    redis_server: RedisServer,
    emulator: RunningServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    config = serve_config_file(tmp_path, emulator.url, redis_server.url, port)
    config.write_text(config.read_text() + "tasks: {idle_s: 3}\n")
    url = f"http://127.0.0.1:{port}"

    def serve() -> subprocess.Popen:
        process = processes.start(
            [sys.executable, "-m", "cli", "serve", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_up(f"{url}/healthz", process)
        return process

    first = serve()
    client = OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    task = _tool_loop(client, client, "K-9")[0]
    wait_until(  # the request records are in Redis (the last milliseconds before a kill -9 are the known loss)
        lambda: len([r for r in ledger_records(redis_server.url) if r.task_id == task]) == 2, "both steps' records"
    )
    first.kill()  # SIGKILL mid-task: the task is open, its end not yet due
    first.wait(10)
    assert task not in _exported_tasks(redis_server.url, capsys)
    serve()  # the next process closes what the dead one left open, once it is idle
    tasks: dict[str, dict] = {}

    def closed() -> bool:
        tasks.update(_exported_tasks(redis_server.url, capsys))
        return task in tasks

    wait_until(closed, "the task closed by the next process", timeout_s=30)
    assert (tasks[task]["steps"], tasks[task]["requests"], tasks[task]["ended_by"]) == (2, 2, "idle")
