"""routetax's logs as an on-call engineer reads them: `routetax serve` processes, the openai SDK, stderr as JSON.

Issue 31's first finding, one test each: retries, fallbacks, breakers and 500 storms said nothing at INFO;
an unreachable upstream was logged at DEBUG without a request id; no access log; plain-text logs. Every
test here parses the real process's stderr, line by line, as JSON (docs/logging.md's schema).
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from openai import APIStatusError, OpenAI

from router.servers import RunningServer
from tests.conftest import script, serve_config_file
from tests.running import Processes
from tests.test_cli import free_port, wait_until_up
from tests.test_metering_e2e import ledger_records
from tests.waiting import wait_until

HELLO = [{"role": "user", "content": "Say hello."}]


class Served:
    """A `routetax serve` process whose stderr goes to a file, read back as JSON lines."""

    def __init__(self, process: subprocess.Popen[Any], url: str, stderr: Path) -> None:
        self.process, self.url, self.stderr = process, url, stderr

    def client(self, **headers: str) -> OpenAI:
        return OpenAI(base_url=f"{self.url}/v1", api_key="unused", max_retries=0, timeout=30, default_headers=headers)

    def lines(self) -> list[dict[str, Any]]:
        """Every complete line written so far, each parsed as JSON (a line that is not JSON fails the test)."""
        text = self.stderr.read_text()
        complete = text[: text.rfind("\n") + 1]
        return [orjson.loads(line) for line in complete.splitlines()]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == event]

    def wait_for(self, event: str, count: int, **fields: Any) -> list[dict[str, Any]]:
        def found() -> list[dict[str, Any]]:
            lines = [line for line in self.events(event) if all(line.get(k) == v for k, v in fields.items())]
            return lines if len(lines) >= count else []

        return wait_until(found, f"{count} {event} line(s) with {fields}", timeout_s=30)

    def stop(self) -> list[dict[str, Any]]:
        """SIGTERM, wait for the exit, and every line it wrote."""
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(30) in (0, -signal.SIGTERM)  # uvicorn ends by re-raising the signal it handled
        return self.lines()


def serve(
    processes: Processes,
    tmp_path: Path,
    upstream: str,
    redis_url: str,
    extra_yaml: str = "",
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Served:
    port = free_port()
    config = serve_config_file(tmp_path, upstream, redis_url, port)
    config.write_text(config.read_text() + extra_yaml)
    stderr = tmp_path / "stderr.log"
    with stderr.open("wb") as err:
        process = processes.start(
            [sys.executable, "-m", "cli", "serve", "--config", str(config), *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, **(env or {})},
        )
    url = f"http://127.0.0.1:{port}"
    wait_until_up(f"{url}/healthz", process)
    return Served(process, url, stderr)


Serving = Callable[..., Served]


@pytest.fixture
def serving(tmp_path: Path, processes: Processes, emulator: RunningServer, redis_url: str) -> Serving:
    """`serving(extra_yaml, args)`: a `routetax serve` on the emulator, the ledger in Redis."""
    return functools.partial(serve, processes, tmp_path, emulator.url, redis_url)


def test_every_line_is_json_with_the_schema_and_the_request_and_task_ids(serving: Serving) -> None:
    """Plain-text logs once: `2026-… INFO routetax: …`, which no log pipeline can take apart."""
    served = serving()
    client = served.client()
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    stream = client.chat.completions.with_raw_response.create(model="auto", messages=HELLO, stream=True)
    for _ in stream.parse():
        pass
    served.wait_for("access", 2)
    lines = served.stop()
    assert lines, "nothing logged"
    for line in lines:
        assert {"ts", "level", "logger", "msg"} <= set(line), line
        assert line["ts"].endswith("Z") and datetime.fromisoformat(line["ts"]).utcoffset().total_seconds() == 0
        assert line["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
    access = {line["request_id"]: line for line in lines if line.get("event") == "access"}
    for answer in (raw, stream):
        line = access[answer.headers["x-routetax-request-id"]]
        assert line["task_id"] == answer.headers["x-routetax-task"]
        assert line["status"] == 200 and line["tier_path"] == [answer.headers["x-routetax-tier"]]
    assert access[stream.headers["x-routetax-request-id"]]["stream"] is True


def test_the_access_line_is_the_ledger_record_with_every_attempt_and_the_retries_said_at_warning(
    serving: Serving, emulator: RunningServer, redis_url: str
) -> None:
    """No access log at any level, and retries and fallbacks said nothing at INFO, once."""
    served = serving()
    script(emulator, "gpt-5.4-nano", outcomes=["500", "500", "500"])  # nano's three attempts fail: mini answers
    raw = served.client().chat.completions.with_raw_response.create(model="nano", messages=HELLO)
    request_id = raw.headers["x-routetax-request-id"]
    [line] = served.wait_for("access", 1, request_id=request_id)
    [record] = wait_until(lambda: [r for r in ledger_records(redis_url) if r.request_id == request_id], "the record")
    assert line["attempts"] == [a.tier for a in record.attempts] == ["nano", "nano", "nano", "mini"]
    usage = record.usage
    assert usage is not None
    assert line == {
        **line,
        "task_id": record.task_id,
        "key_id": record.key_id,
        "class": record.label,
        "tier_path": record.tier_path,
        "retries": record.retries,
        "fallbacks": record.fallbacks,
        "status": record.status,
        "outcome": str(record.outcome),
        "prompt_tokens": usage.prompt_tokens,
        "cached_tokens": usage.cached_tokens,
        "completion_tokens": usage.completion_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "cost_usd": record.cost_usd,
        "added_ms": round(record.proxy_overhead_ms, 3),
    }
    assert (line["retries"], line["fallbacks"]) == (2, 1)
    failed = [w for w in served.events("upstream_failed") if w["request_id"] == request_id]
    assert [(w["level"], w["tier"], w["attempt"], w["status"], w["next"]) for w in failed] == [
        ("WARNING", "nano", 1, 500, "retry"),
        ("WARNING", "nano", 2, 500, "retry"),
        ("WARNING", "nano", 3, 500, "fallback"),
    ]
    assert failed[-1]["to_tier"] == "mini" and all(w["task_id"] == record.task_id for w in failed)


def test_refusals_are_access_logged_with_their_code(serving: Serving) -> None:
    served = serving("log: {access: true}\n")
    try:
        served.client().chat.completions.create(model="no-such-model", messages=HELLO)
    except APIStatusError as exc:
        refused = exc.response
    [line] = served.wait_for("access", 1, request_id=refused.headers["x-routetax-request-id"])
    assert (line["status"], line["code"], line["outcome"]) == (404, "model_not_found", "refused")
    assert line["task_id"] == refused.headers["x-routetax-task"]


def test_a_refused_key_is_access_logged_with_its_request_id(serving: Serving) -> None:
    """401s of a keys-mode gateway: the refusals an on-call engineer is asked about first."""
    served = serving(env={"ROUTETAX_AUTH__MODE": "keys"})
    for headers in ({}, {"authorization": "Bearer rt-not-a-key-of-this-gateway-0123456789"}):
        answer = httpx.post(
            f"{served.url}/v1/chat/completions", json={"model": "auto", "messages": HELLO}, headers=headers, timeout=30
        )
        assert answer.status_code == 401
        [line] = served.wait_for("access", 1, request_id=answer.headers["x-routetax-request-id"])
        assert (line["outcome"], line["code"]) == ("refused", answer.json()["error"]["code"])
    assert "rt-not-a-key" not in served.stderr.read_text()  # the client's key is never logged


def test_an_upstream_500_storm_is_a_few_warnings_and_a_count(serving: Serving, emulator: RunningServer) -> None:
    """A 500 storm: one line per request past the limit would bury everything else (and said nothing, once)."""
    served = serving(
        "resilience: {max_retries: 0, breaker: {consecutive_failures: 1000, min_requests: 1000}}\n"
        "log: {warning_burst: 3}\n",
    )
    storm = 20
    script(emulator, "gpt-5.4-nano", outcomes=["500"] * storm)
    client = served.client(**{"x-routetax-fallback": "off"})
    for _ in range(storm):
        try:
            client.chat.completions.create(model="nano", messages=HELLO)
        except APIStatusError as exc:
            assert exc.status_code == 500
    served.wait_for("access", storm)
    failed = [line for line in served.stop() if line.get("event") == "upstream_failed"]
    assert all(line["level"] == "WARNING" and line["status"] == 500 for line in failed)
    said = [line for line in failed if "suppressed" not in line]
    summaries = [line for line in failed if "suppressed" in line]
    assert len(said) == 3 and summaries, failed  # the burst, then the count (at the latest when the process stops)
    assert len(said) + sum(line["suppressed"] for line in summaries) == storm  # every failure accounted for
    assert all(line["request_id"] for line in said)


def test_a_breaker_opening_and_closing_are_warnings(serving: Serving, emulator: RunningServer) -> None:
    served = serving(
        "resilience: {max_retries: 0, breaker: {consecutive_failures: 2, cooldown_s: 0.5}}\n",
    )
    script(emulator, "gpt-5.4-nano", outcomes=["500", "500"])
    client = served.client(**{"x-routetax-fallback": "off"})
    for _ in range(2):
        try:
            client.chat.completions.create(model="nano", messages=HELLO)
        except APIStatusError:
            pass
    [opened] = served.wait_for("breaker_opened", 1)
    assert (opened["level"], opened["tier"]) == ("WARNING", "nano")

    def served_again() -> bool:  # 503 no_tier_available while open; the probe after the cooldown succeeds
        return httpx.post(
            f"{served.url}/v1/chat/completions",
            json={"model": "nano", "messages": HELLO},
            headers={"x-routetax-fallback": "off"},
            timeout=30,
        ).is_success

    wait_until(served_again, "the breaker's probe to succeed")
    [closed] = served.wait_for("breaker_closed", 1)
    assert (closed["level"], closed["tier"]) == ("WARNING", "nano")


def test_an_unreachable_upstream_is_a_warning_naming_the_request(
    tmp_path: Path, processes: Processes, redis_url: str
) -> None:
    """Logged only at DEBUG and without a request id, once: the one line that says the host and port."""
    dead = free_port()
    served = serve(processes, tmp_path, f"http://127.0.0.1:{dead}", redis_url, "resilience: {max_retries: 0}\n")
    try:
        served.client(**{"x-routetax-fallback": "off"}).chat.completions.create(model="nano", messages=HELLO)
    except APIStatusError as exc:
        assert exc.status_code == 502
        request_id = exc.response.headers["x-routetax-request-id"]
    [line] = served.wait_for("upstream_failed", 1, request_id=request_id)
    assert (line["level"], line["tier"], line["error"], line["next"]) == ("WARNING", "nano", "connect_error", "give_up")
    assert str(dead) in line["detail"]  # the operator's log says where; the client's answer never does


def test_workers_log_the_same_schema_and_the_text_format_is_an_opt_in(
    serving: Serving, tmp_path: Path, processes: Processes, emulator: RunningServer, redis_url: str
) -> None:
    served = serving(args=("--workers", "2"))
    for _ in range(4):
        httpx.post(f"{served.url}/v1/chat/completions", json={"model": "auto", "messages": HELLO}, timeout=30)
    served.wait_for("access", 4)
    lines = served.stop()  # every line of the supervisor and both workers parses
    assert sorted(line["worker"] for line in lines if "worker" in line) == [0, 1]
    assert sum(1 for line in lines if line.get("event") == "access") == 4

    text_dir = tmp_path / "text"
    text_dir.mkdir()
    texted = serve(processes, text_dir, emulator.url, redis_url, args=("--log-format", "text"))
    answer = httpx.post(f"{texted.url}/v1/chat/completions", json={"model": "auto", "messages": HELLO}, timeout=30)
    request_id = answer.headers["x-routetax-request-id"]
    wait_until(lambda: f"request_id={request_id}" in texted.stderr.read_text(), "the text access line")
    assert not texted.stderr.read_text().startswith("{")
