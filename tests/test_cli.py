"""The `routetax` command as users run it: real processes, real ports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest
from openai import OpenAI

from router.servers import bind_socket
from tests.conftest import serve_config_file
from tests.running import Processes
from tests.waiting import wait_until

ROUTETAX = [sys.executable, "-m", "cli"]


def free_port() -> int:
    sock = bind_socket()
    port = sock.getsockname()[1]
    sock.close()
    return port


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"process exited: {process.stderr.read() if process.stderr else ''}")
        try:
            httpx.get(url, timeout=0.5)
            return True
        except httpx.TransportError:
            return False

    wait_until(up, f"{url} to come up", timeout_s=timeout, interval_s=0.1)


def test_serve_and_mock_upstream_work_together_from_the_command_line(tmp_path: Path, processes: Processes) -> None:
    upstream_port, proxy_port = free_port(), free_port()
    upstream = processes.start(
        [*ROUTETAX, "mock-upstream", "--port", str(upstream_port), "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    config = tmp_path / "routetax.yaml"
    config.write_text(
        "tiers:\n"
        f"  nano: {{model: gpt-5.4-nano, base_url: 'http://127.0.0.1:{upstream_port}/v1'}}\n"
        f"  mini: {{model: gpt-5.4-mini, base_url: 'http://127.0.0.1:{upstream_port}/v1', "
        "api_key_env: OPENAI_API_KEY}\n"
    )
    env = {**os.environ, "ROUTETAX_CONFIG": str(config), "ROUTETAX_SERVER__PORT": str(proxy_port)}
    proxy = processes.start([*ROUTETAX, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until_up(f"http://127.0.0.1:{upstream_port}/v1/models", upstream)
    wait_until_up(f"http://127.0.0.1:{proxy_port}/healthz", proxy)
    client = OpenAI(base_url=f"http://127.0.0.1:{proxy_port}/v1", api_key="x", max_retries=0)
    answer = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hello"}]
    )
    assert answer.headers["x-routetax-tier"] == "nano"
    assert answer.parse().choices[0].message.content


def test_help_lists_the_subcommands(processes: Processes) -> None:
    result = processes.run([*ROUTETAX, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in ("serve", "mock-upstream", "demo", "eval-classifier", "price", "ledger"):
        assert command in result.stdout


def test_demo_runs_on_embedded_defaults_without_a_key(processes: Processes) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    result = processes.run(
        [*ROUTETAX, "demo", "--tasks", "10", "--agentic-share", "0.5", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    import json

    report = json.loads(result.stdout)
    assert report["measured"]["requests"] == report["demo"]["requests"] == report["demo"]["world"]["tasks"]["requests"]
    assert report["demo"]["ran"]["tasks"] == 10
    measured = report["measured"]
    assert {c["tier"] for c in measured["cells"]} == {"nano", "mini", "qwen"}  # qwen on the vLLM emulator
    # The demo explores by default (--explore 0.2), drawn once per task from its id: with 10 tasks, 1 run in 9 has
    # none explored, so what is checked here is the share stated and the explored requests counted consistently.
    assert report["demo"]["explore_share"] == 0.2
    assert 0 <= measured["explored_requests"] <= measured["requests"]
    assert report["demo"]["world"]["gpu_hour_usd"] == 1.0
    # the JSON contract the README promises
    assert set(measured["overhead_parts_usd"]) == {
        "redo",
        "retry_fallback",
        "cache_loss",
        "infrastructure",
        "classifier",
    }
    assert set(measured["policies"]) == {"dual", "mini_only", "nano_only", "qwen_only", "agentic_to_qwen"}
    for policy in measured["policies"].values():
        assert {"cost_per_completed_task_usd", "ci", "measured", "missing_cells"} <= set(policy)
    cell = measured["cells"][0]
    assert {
        "tier",
        "class",
        "requests",
        "explored",
        "successes",
        "success_rate",
        "success_ci",
        "feedback_coverage",
        "cost_per_request_usd",
        "cost_per_completed_task_usd",
    } <= set(cell)
    assert {"actual", "base"} <= set(measured["spend"])
    assert "break_even_agentic_share" in measured and "break_even_ci" in measured
    assert report["verdict"]["decision"] in {"dual_tier_pays", "mini_only_cheaper", "undecided"}
    assert report["verdict"]["dual_tier_pays"] == (report["verdict"]["decision"] == "dual_tier_pays")
    assert "NON-DURABLE" in result.stderr


def test_a_bad_demo_configuration_is_a_usage_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`routetax demo --config FILE` with a bad value once died with a traceback (and no exit code 2)."""
    from cli import main

    config = tmp_path / "routetax.yaml"
    config.write_text("tiers:\n  nano: {model: m, base_url: 'ftp://x'}\n")
    assert main(["demo", "--config", str(config), "--tasks", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("routetax demo: ") and "tiers.nano.base_url" in err
    assert "Traceback" not in err


def test_a_second_serve_on_the_same_spool_says_so_in_one_line(
    tmp_path: Path, processes: Processes, redis_url: str
) -> None:
    """The second process once died in its startup with a `SpoolLocked` traceback (exit 3)."""
    config = serve_config_file(tmp_path, "http://127.0.0.1:9", redis_url)
    first_port, second_port = free_port(), free_port()
    env = {**os.environ, "ROUTETAX_CONFIG": str(config)}
    first = processes.start(
        [*ROUTETAX, "serve", "--port", str(first_port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    wait_until_up(f"http://127.0.0.1:{first_port}/healthz", first)
    second = processes.run(
        [*ROUTETAX, "serve", "--port", str(second_port)], env=env, capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 2, second.stderr
    said = [orjson.loads(line) for line in second.stderr.splitlines()]  # JSON lines (docs/logging.md)
    lines = [line["msg"] for line in said if line["level"] != "INFO"]  # the start's own INFO lines aside
    assert lines == [
        f"routetax: the spool directory {tmp_path / 'spool'} is in use by routetax process {first.pid}; "
        "give this one its own store.spool_dir (ROUTETAX_STORE__SPOOL_DIR)"
    ]
    assert first.poll() is None  # the first one serves on
    assert httpx.get(f"http://127.0.0.1:{first_port}/healthz").status_code == 200


def test_each_command_s_one_liner_says_what_it_does() -> None:
    """`routetax --help` is where a new user picks a command: no line may just point at another help."""
    from cli.main import build_parser

    parser = build_parser()
    [commands] = [a for a in parser._actions if a.dest == "command"]
    lines = {choice.dest: choice.help or "" for choice in commands._choices_actions}
    assert set(lines) == {"serve", "mock-upstream", "demo", "eval-classifier", "price", "ledger", "model", "audit",
                          "report", "keys"}  # fmt: skip
    for command, line in lines.items():
        assert "--help" not in line and len(line.split()) >= 5, f"{command}: {line!r}"
        assert line.split()[0] not in ("the", "a", "an"), f"{command}: {line!r} names a thing, not what it does"
