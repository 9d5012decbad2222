"""The log's parts on their own: the schema and the request's ids, the scrub, the bounded queue, the rate limit,
the access line (docs/logging.md). The same behaviour through real `routetax serve` processes: tests/test_logs.py."""

from __future__ import annotations

import contextvars
import logging
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from metering.logs import access, context, output
from metering.logs.limiter import RateLimitedLog
from metering.logs.output import LogFormat, Output
from metering.metrics import Metrics
from metering.record import Attempt, Outcome, Record, Usage
from router.secrets import Scrubber
from router.serving.incidents import Incidents
from router.serving.walker import Kind, Move, Step, Turn
from router.serving.walker import Outcome as WalkOutcome
from tests.in_process import InProcessStore
from tests.test_ledger import fast_ledger, make_record
from tests.waiting import async_wait_until, wait_until

SECRET = "sk-upstream-NEVER-LEAK-0123456789"


class Pipe:
    """An `Output` writing into a pipe this test reads (or, to show the queue's bound, does not)."""

    def __init__(self, fmt: LogFormat = LogFormat.JSON, queue_size: int = 1000, scrub: Any = None) -> None:
        self.read_fd, write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self.output = Output(fmt, scrub, queue_size, fd=write_fd)
        self.logger = logging.getLogger(f"routetax.test.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self.output.handler)
        self._text = b""

    def read(self) -> bytes:
        while True:
            try:
                chunk = os.read(self.read_fd, 65536)
            except BlockingIOError:
                return self._text
            if not chunk:
                return self._text
            self._text += chunk

    def lines(self, count: int) -> list[bytes]:
        def enough() -> list[bytes]:
            lines = self.read().splitlines()
            return lines if len(lines) >= count else []

        return wait_until(enough, f"{count} lines")

    def json_lines(self, count: int) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.lines(count)]


@pytest.fixture
def pipe() -> Iterator[Pipe]:
    made = Pipe()
    yield made
    made.output.stop()


def test_a_line_has_the_schema_and_names_the_request_in_hand(pipe: Pipe) -> None:
    pipe.logger.info("before any request")

    def serving() -> None:
        handling = context.begin("req-1")
        pipe.logger.warning("tier %s failed", "nano", extra={"event": "upstream_failed", "tier": "nano"})
        handling.task_id = "task_1"
        pipe.logger.warning("and again")

    contextvars.copy_context().run(serving)  # a request's own task, as asyncio gives each
    pipe.logger.info("after it")
    first, failed, again, after = pipe.json_lines(4)
    assert set(first) == {"ts", "level", "logger", "msg"}  # no request in hand: no ids
    assert datetime.fromisoformat(first["ts"]).utcoffset().total_seconds() == 0 and first["ts"].endswith("Z")
    assert failed == {
        "ts": failed["ts"],
        "level": "WARNING",
        "logger": pipe.logger.name,
        "msg": "tier nano failed",
        "event": "upstream_failed",
        "tier": "nano",
        "request_id": "req-1",
        "task_id": None,  # identity has not spoken yet
    }
    assert (again["request_id"], again["task_id"]) == ("req-1", "task_1")
    assert "request_id" not in after


def test_a_traceback_is_one_line_with_its_type() -> None:
    pipe = Pipe()
    try:
        raise ValueError("broken")
    except ValueError:
        pipe.logger.exception("it broke")
    [line] = pipe.json_lines(1)
    assert line["exc_type"] == "ValueError" and "Traceback" in line["exc"] and line["level"] == "ERROR"
    pipe.output.stop()


def test_no_upstream_key_and_nothing_key_shaped_reaches_a_line() -> None:
    pipe = Pipe(scrub=Scrubber([SECRET]).line)
    pipe.logger.warning("upstream said: Incorrect API key provided: %s", SECRET)
    pipe.logger.warning("a header echoed: BEARER abcdef123")
    pipe.logger.warning("rt-0123456789abcdef0123 is a routetax key")
    pipe.logger.warning("a clean line")
    lines = pipe.lines(4)
    assert all(SECRET.encode() not in line and b"abcdef123" not in line for line in lines)
    assert all(b"[redacted]" in line for line in lines[:3]) and lines[3].endswith(b'"msg":"a clean line"}')
    pipe.output.stop()


def test_the_text_format_keeps_the_fields() -> None:
    pipe = Pipe(LogFormat.TEXT)
    pipe.logger.warning("tier failed", extra={"tier": "nano", "detail": "Cannot connect to host"})
    [line] = pipe.lines(1)
    assert b" WARNING " in line and b"tier failed" in line and b"tier=nano" in line
    assert b'detail="Cannot connect to host"' in line
    pipe.output.stop()


def test_a_stderr_nobody_reads_never_blocks_a_line_and_the_drops_are_counted_and_said() -> None:
    """The writer blocks on a full pipe; the callers do not: past the queue, lines are dropped and counted."""
    pipe = Pipe(queue_size=10)
    for n in range(5000):  # ~1 MB: the pipe (64 KB) and the queue fill long before the end
        pipe.logger.info("line %d %s", n, "x" * 150)
    assert pipe.output.dropped > 0
    dropping = wait_until(
        lambda: [line for line in pipe.read().splitlines() if b'"event":"log_lines_dropped"' in line], "the drop said"
    )
    assert len(dropping) == 1  # said once, not once per line dropped
    scraped = Metrics(log_lines_dropped=lambda: pipe.output.dropped).render().decode()
    assert f"routetax_log_lines_dropped_total {float(pipe.output.dropped)}" in scraped  # what an alert reads
    pipe.output.stop()
    total = wait_until(lambda: [line for line in pipe.read().splitlines() if b'"dropped":' in line], "the total")
    assert orjson.loads(total[-1])["dropped"] == pipe.output.dropped


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_storm_is_its_burst_then_one_count_per_window(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limited = RateLimitedLog(logging.getLogger("routetax.test.limit"), burst=2, window_s=10, clock=clock)
    caplog.set_level(logging.WARNING, logger="routetax.test.limit")
    for n in range(7):
        limited.warning("tier nano failed (%d)", n, key=("failed", "nano"), extra={"tier": "nano"})
    limited.warning("tier mini failed", key=("failed", "mini"))  # another kind has its own burst
    assert [r.getMessage() for r in caplog.records] == [
        "tier nano failed (0)",
        "tier nano failed (1)",
        "tier mini failed",
    ]
    limited.flush_due()  # the window is not over: nothing yet
    assert len(caplog.records) == 3
    clock.now = 10.0
    limited.flush_due()
    summary = caplog.records[-1]
    assert summary.suppressed == 5 and summary.tier == "nano"  # type: ignore[attr-defined]
    assert summary.getMessage().startswith("tier nano failed (6) (and 5 more like it in 10 s")
    limited.warning("tier nano failed (7)", key=("failed", "nano"))  # a new window: said again
    assert caplog.records[-1].getMessage() == "tier nano failed (7)"


def test_flush_says_every_count_held_back(caplog: pytest.LogCaptureFixture) -> None:
    limited = RateLimitedLog(logging.getLogger("routetax.test.flush"), burst=1, window_s=10, clock=Clock())
    caplog.set_level(logging.WARNING, logger="routetax.test.flush")
    for _ in range(3):
        limited.warning("same problem")
    limited.flush()
    assert [getattr(r, "suppressed", None) for r in caplog.records] == [None, 2]


def record() -> Record:
    return Record(
        request_id="req-1",
        started_at=100.0,
        ended_at=100.25,
        key_id="k1",
        requested_model="auto",
        label="agentic",
        tier_path=["nano", "mini"],
        attempts=[Attempt("nano", "gpt-5.4-nano", status=500), Attempt("nano", "gpt-5.4-nano"), Attempt("mini", "m")],
        retries=1,
        fallbacks=1,
        usage=Usage(prompt_tokens=100, cached_tokens=40, completion_tokens=20, reasoning_tokens=8),
        cost_usd=0.0012,
        proxy_overhead_ms=1.23456,
        outcome=Outcome.SUCCESS,
        task_id="task_1",
    )


def test_the_access_line_is_the_record_with_every_attempt() -> None:
    fields = access.record_fields(record())
    assert fields == {
        "event": "access",
        "request_id": "req-1",
        "task_id": "task_1",
        "key_id": "k1",
        "api": "chat",
        "class": "agentic",
        "model": "auto",
        "tier_path": ["nano", "mini"],
        "attempts": ["nano", "nano", "mini"],
        "retries": 1,
        "fallbacks": 1,
        "status": 200,
        "outcome": "success",
        "added_ms": 1.235,
        "duration_ms": 250.0,
        "prompt_tokens": 100,
        "cached_tokens": 40,
        "completion_tokens": 20,
        "reasoning_tokens": 8,
        "estimated": False,
        "cost_usd": 0.0012,
        "stream": False,
    }


def test_a_refusal_is_access_logged_once_and_only_for_a_proxied_request(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="routetax.access")
    access.refused(401, "invalid_admin_key")  # a management endpoint: no request context, no access line
    assert not caplog.records

    def proxied() -> None:
        handling = context.begin("req-2")
        handling.key_id = "k9"
        access.refused(429, "budget_exceeded", 0.5)
        access.refused(429, "budget_exceeded", 0.5)  # the boundary again (it is not): still one line

    contextvars.copy_context().run(proxied)
    [line] = caplog.records
    assert (line.request_id, line.key_id, line.status, line.code) == ("req-2", "k9", 429, "budget_exceeded")  # type: ignore[attr-defined]


def test_a_record_already_access_logged_is_not_logged_again_as_a_refusal(caplog: pytest.LogCaptureFixture) -> None:
    """A refusal found after routing began (no tier available) has a record: its line, not a second one."""
    caplog.set_level(logging.INFO, logger="routetax.access")

    def proxied() -> None:
        context.begin("req-1")
        access.finished(record())
        access.refused(503, "no_tier_available")

    contextvars.copy_context().run(proxied)
    assert [r.event for r in caplog.records] == ["access"] and caplog.records[0].attempts == ["nano", "nano", "mini"]  # type: ignore[attr-defined]


async def test_spool_activity_is_said_with_its_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Spooling said when it starts, and the replay with how many records it brought back — once each."""
    caplog.set_level(logging.WARNING, logger="routetax.ledger")
    store = InProcessStore.open()
    ledger = fast_ledger(store.redis, tmp_path / "spool")
    await ledger.start()
    store.down()
    for i in range(12):
        ledger.submit(make_record(i))
    await async_wait_until(lambda: ledger.spool_depth == 12, "12 records spooled")
    store.up()
    assert await ledger.drain(10)
    await ledger.aclose()
    events = [(r.event, getattr(r, "replayed", None)) for r in caplog.records if hasattr(r, "event")]  # type: ignore[attr-defined]
    assert events == [("spool_started", None), ("spool_replayed", 12)]


def test_a_client_error_is_no_upstream_warning_but_routetax_s_own_refused_key_is(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 400 the upstream would give the client directly is the client's (its access line says so); a 401 to
    routetax's own key is the operator's to fix."""
    caplog.set_level(logging.WARNING, logger="routetax.proxy")
    incidents = Incidents(burst=5, window_s=10)
    for status, code, error_type in (
        (400, "invalid_request_error", None),
        (401, "invalid_api_key", "upstream_credential"),
    ):
        record = Record(
            request_id=f"req-{status}", attempts=[Attempt("nano", "m", status=status, error_type=error_type)]
        )
        outcome = WalkOutcome(Kind.HTTP_ERROR, status, code)
        incidents.turn(record, Turn("nano", outcome, Step(Move.ANSWER, "client_error", healthy=True)), None)
    [said] = caplog.records
    assert (said.event, said.status, said.error) == ("upstream_failed", 401, "upstream_credential")  # type: ignore[attr-defined]


def test_the_access_line_written_by_the_output_is_the_schema_with_client_written_text_scrubbed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The access line's own way to stderr (one JSON dump, no log record) keeps the schema every line has, and a
    credential a client wrote into the model it asked for is redacted as on any other line."""
    pipe = Pipe(scrub=Scrubber([SECRET]).line)
    monkeypatch.setattr(output, "_active", pipe.output)
    caplog.set_level(logging.INFO, logger="routetax.access")
    asked_with_a_key = record()
    asked_with_a_key.requested_model = f"gpt-5.4 {SECRET} Bearer abcdef123"

    def proxied() -> None:
        context.begin("req-1")
        access.finished(record())
        access.finished(asked_with_a_key)
        context.begin("req-2")
        access.refused(429, "budget_exceeded", 0.5)

    contextvars.copy_context().run(proxied)
    clean, scrubbed, refused = pipe.json_lines(3)
    assert not caplog.records  # not through the logging module: straight onto the output's queue
    assert clean == {
        "ts": clean["ts"],
        "level": "INFO",
        "logger": "routetax.access",
        "msg": "chat mini 200",
        **access.record_fields(record()),
    }
    datetime.fromisoformat(clean["ts"].replace("Z", "+00:00"))
    assert clean["ts"].endswith("Z") and len(clean["ts"]) == len("2026-12-07T06:14:26.123Z")
    assert scrubbed["model"] == "gpt-5.4 [redacted] [redacted]" and scrubbed["request_id"] == "req-1"
    assert SECRET.encode() not in pipe.read() and b"abcdef123" not in pipe.read()
    assert (refused["msg"], refused["status"], refused["code"], refused["request_id"]) == (
        "refused 429 budget_exceeded",
        429,
        "budget_exceeded",
        "req-2",
    )
    pipe.output.stop()


def test_flush_writes_what_waits_without_the_writer_s_gathering_pause() -> None:
    """`flush` (the app's last act at shutdown) returns once what was queued is written."""
    pipe = Pipe()
    for index in range(3):
        pipe.logger.warning("line %d", index)
    assert pipe.output.flush(1.0)
    assert len(pipe.read().splitlines()) == 3
    pipe.output.stop()
