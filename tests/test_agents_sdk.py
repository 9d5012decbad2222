"""The OpenAI Agents SDK's `output_type` works through routetax against the emulator (issue 19).

The SDK runs in a venv of its own (tests/client_venv.py: pinned, made once per machine, a failed
install fails this test), driven by tests/clients/agents_driver.py: an agent with a pydantic
`output_type` (integer, number, array, nested object, enum, nullable fields), and an agent that
calls a function tool and then answers with structured output (run to the end, and streamed), each
on the SDK's Responses model (its default) and its Chat Completions model, all with model `auto`
and base_url on routetax. Once every structured-output run failed against the emulator, which
answered prose whatever schema was asked.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cli import main as routetax_cli
from router.servers import RunningServer
from tests.client_venv import client_python
from tests.clients.agents_models import Booking, Ticket
from tests.conftest import durable_config
from tests.redis_server import RedisServer
from tests.running import Processes

AGENTS_SDK = "openai-agents"
AGENTS_SDK_VERSION = "0.24.0"  # the version the classifier's framework captures were made with
DRIVER = Path(__file__).parent / "clients" / "agents_driver.py"
PATHS = {"responses": "/v1/responses", "chat": "/v1/chat/completions"}


@pytest.fixture(scope="session")
def agents_python() -> Path:
    python, seconds = client_python(AGENTS_SDK, AGENTS_SDK_VERSION, "agents")
    if seconds is not None:
        where = python.parent.parent
        print(f"\n{AGENTS_SDK}=={AGENTS_SDK_VERSION}: venv made in {seconds:.1f} s at {where}", file=sys.stderr)
    return python


def run_driver(processes: Processes, python: Path, base_url: str, cwd: Path) -> dict[str, Any]:
    # A bare environment: no real key, no base URL or proxy from the developer's shell, tracing off.
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
        "OPENAI_API_KEY": "sk-agents-driver",
        "OPENAI_BASE_URL": base_url,
        "OPENAI_AGENTS_DISABLE_TRACING": "1",
    }
    done = processes.run(
        [str(python), str(DRIVER), base_url], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"the driver failed:\n{done.stderr[-4000:]}"
    return json.loads(done.stdout)


def ledger(redis_url: str, request_ids: set[str], out: Path) -> dict[str, dict[str, Any]]:
    """The ledger's records for these requests, by `routetax ledger export` (they land just after the answer)."""
    deadline = time.monotonic() + 10
    while True:
        assert routetax_cli(["ledger", "export", "--redis-url", redis_url, "--output", str(out)]) == 0
        records = [json.loads(line) for line in out.read_text().splitlines()]
        found = {r["request_id"]: r for r in records if r["request_id"] in request_ids}
        if len(found) == len(request_ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_agents_output_type_and_tool_loop_work_through_routetax(
    agents_python: Path,
    redis_server: RedisServer,  # first, so that it stops after the proxy that writes to it
    emulator: RunningServer,
    start_proxy,
    tmp_path: Path,
    processes: Processes,
) -> None:
    proxy = start_proxy(durable_config(emulator.url, redis_server.url, tmp_path / "spool"))
    result = run_driver(processes, agents_python, f"{proxy.url}/v1", tmp_path)
    assert result["versions"]["openai-agents"] == AGENTS_SDK_VERSION
    runs = {(r["api"], r["scenario"]): r for r in result["runs"]}
    assert set(runs) == {(api, scenario) for api in PATHS for scenario in ("output_type", "tool", "tool_streamed")}
    for run in runs.values():
        assert "error" not in run, f"{run['api']} {run['scenario']}: {run['error']}\n{run['traceback']}"

    for api in PATHS:
        # output_type alone: one request, a single-turn one, parsed into the pydantic model with every type right
        plain = runs[(api, "output_type")]
        assert plain["output_class"] == "Ticket" and plain["items"] == ["message_output_item"]
        assert plain["field_types"] == {
            "title": "str",
            "count": "int",
            "score": "float",
            "tags": "list",
            "address": "Address",
            "priority": "Priority",
            "assignee": "str",
        }
        Ticket.model_validate(plain["output"])
        assert all(isinstance(tag, str) for tag in plain["output"]["tags"])
        [exchange] = plain["exchanges"]
        assert exchange["path"] == PATHS[api] and exchange["status"] == 200
        assert exchange["routetax"]["x-routetax-class"] == "single_turn"

        # a tool, then output_type: the tool got typed arguments, then the final answer parsed into Booking
        for scenario in ("tool", "tool_streamed"):
            tool = runs[(api, scenario)]
            assert tool["items"] == ["tool_call_item", "tool_call_output_item", "message_output_item"], scenario
            [call] = tool["tool_calls"]
            assert [call[name][1] for name in ("restaurant", "guests", "dishes")] == ["str", "int", "list"]
            assert tool["output_class"] == "Booking"
            assert tool["field_types"] == {"restaurant": "str", "guests": "int", "confirmed": "bool"}
            Booking.model_validate(tool["output"])
            assert [e["path"] for e in tool["exchanges"]] == [PATHS[api]] * 2
            assert all(e["status"] == 200 for e in tool["exchanges"])
            # the classifier calls both steps of the tool loop agentic (the tools are offered on both)
            assert [e["routetax"]["x-routetax-class"] for e in tool["exchanges"]] == ["agentic", "agentic"]

    # routetax served and metered every request: one ledger record each, as the headers said, none an error
    exchanges = [e for run in runs.values() for e in run["exchanges"]]
    assert len(exchanges) == 10
    by_id = {e["routetax"]["x-routetax-request-id"]: (run, e) for run in runs.values() for e in run["exchanges"]}
    records = ledger(redis_server.url, set(by_id), tmp_path / "ledger.jsonl")
    assert set(records) == set(by_id)
    for request_id, (run, exchange) in by_id.items():
        record = records[request_id]
        assert record["api"] == run["api"] and record["requested_model"] == "auto"
        assert record["label"] == exchange["routetax"]["x-routetax-class"]
        assert record["tier_path"][-1] == exchange["routetax"]["x-routetax-tier"]
        assert record["outcome"] == "success" and record["status"] == 200
        assert record["retries"] == 0 and record["fallbacks"] == 0
        assert record["usage"]["completion_tokens"] > 0 and record["cost_usd"] > 0
        assert record["stream"] == (run["scenario"] == "tool_streamed")
        # the cost on the answer is the ledger's: a header on JSON answers, an SSE comment the SDK skipped on streams
        assert exchange["routetax"]["x-routetax-model"] == record["attempts"][-1]["model"]
        if record["stream"]:
            [comment] = exchange["sse_comments"]
            name, value = comment.removeprefix(": ").split(": ")
            assert name == "x-routetax-cost-usd" and "x-routetax-cost-usd" not in exchange["routetax"]
        else:
            assert exchange["sse_comments"] == []
            value = exchange["routetax"]["x-routetax-cost-usd"]
        assert float(value) == pytest.approx(record["cost_usd"], abs=1e-10)
