"""Where routetax's log lines go: one schema, one bounded queue, one writer thread, stderr.

Every logger of the process (routetax's, uvicorn's, Python's warnings) ends at one handler. The handler
does in the caller's thread only what cannot wait — the message's arguments and an exception's traceback
become text, the request in hand is attached (`context`) — and puts the line on a bounded queue. A writer
thread formats it (JSON or text), scrubs credentials out of it, and writes it to stderr. So:

- the event loop never waits on stderr: a terminal scrolled back, a full pipe or a slow disk only fill the
  queue; past `queue_size` lines are dropped, counted, said once at once and in total at exit;
- the writer writes with `os.write` on the descriptor, at most `PIPE_BUF` bytes of whole lines at a time,
  so the lines of `--workers N` processes sharing one stderr pipe never interleave inside a line;
- a credential never reaches a line: the configured upstream keys and anything key-shaped are redacted
  from every formatted line (the `scrub` the composition root passes, `router.secrets.Scrubber`).
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import select
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from metering.logs import context

ACCESS_LOGGER = "routetax.access"
QUEUE_SIZE = 10_000  # lines waiting for the writer; past it lines are dropped (a stderr nobody reads)
GATHER_S = 0.05  # after a line wakes the writer, how long it lets others gather before writing them together
STOP_TIMEOUT_S = 2.0  # at exit, how long the writer may take to write what waits
# The access line's strings a client can write (the model it asked for, the task it named; the request id, made by
# routetax, is scrubbed too, for it is a string a later change could take from a client): the rest of the line —
# key ids (hashes), numbers, tier names, outcomes, refusal codes — is routetax's own and cannot carry a secret.
SCRUBBED_ACCESS_FIELDS = ("request_id", "task_id", "model")
_PIPE_BUF = 4096  # POSIX: a write of at most this many bytes to a pipe is never interleaved with another's
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}

Scrub = Callable[[bytes], bytes]


class LogFormat(StrEnum):
    """`log.format`: JSON lines for a log pipeline (the default), or text for a person at a terminal."""

    JSON = "json"
    TEXT = "text"


def timestamp(created: float) -> str:
    """RFC 3339 in UTC with milliseconds: `2026-12-07T06:14:26.123Z`."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_second: tuple[int, str] = (-1, "")


def timestamp_now() -> str:
    """`timestamp(time.time())` for the access line, its date and time of day made once a second (a third of
    the line's own CPU when made per line). Any thread may call it: the second and its text are swapped as one tuple."""
    global _second
    now = time.time()
    whole = int(now)
    if _second[0] != whole:
        _second = (whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{_second[1]}.{int((now - whole) * 1000):03d}Z"


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """A record's line as a dict, in the schema's order: ts, level, logger, msg, the request, the event's own."""
    line: dict[str, Any] = {
        "ts": timestamp(record.created),
        "level": record.levelname,
        "logger": record.name,
        "msg": record.getMessage(),
    }
    extra = record.__dict__
    for name, value in extra.items():
        if name not in _STANDARD:
            line[name] = value
    if record.exc_text:
        line["exc"] = record.exc_text
    if record.stack_info:
        line["stack"] = record.stack_info
    return line


def format_json(record: logging.LogRecord) -> bytes:
    return orjson.dumps(fields_of(record), default=str, option=orjson.OPT_NON_STR_KEYS)


def format_text(record: logging.LogRecord) -> bytes:
    """`2026-12-07T06:14:26.123Z WARNING routetax.proxy: message key=value ...` (the request's ids among them)."""
    line = fields_of(record)
    head = f"{line.pop('ts')} {line.pop('level')} {line.pop('logger')}: {line.pop('msg')}"
    exc = line.pop("exc", None)
    rest = " ".join(f"{name}={_text_value(value)}" for name, value in line.items() if value is not None)
    text = f"{head} {rest}" if rest else head
    return (text + ("\n" + exc if exc else "")).encode("utf-8", "replace")


def _text_value(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value else orjson.dumps(value).decode()
    return orjson.dumps(value, default=str).decode()


class _Attach(logging.Filter):
    """Names the request in hand on every line written while it is handled (in the writer's thread it is gone)."""

    def filter(self, record: logging.LogRecord) -> bool:
        handling = context.current()
        if handling is not None:
            if "request_id" not in record.__dict__:
                record.request_id = handling.request_id
            if "task_id" not in record.__dict__:
                record.task_id = handling.task_id
        return True


class Output:
    """The process's one log handler and its writer thread (see the module's docstring)."""

    def __init__(
        self,
        fmt: LogFormat = LogFormat.JSON,
        scrub: Scrub | None = None,
        queue_size: int = QUEUE_SIZE,
        fd: int = 2,
    ) -> None:
        self.format = format_json if fmt is LogFormat.JSON else format_text
        self.scrub = scrub
        self.fd = fd
        self.dropped = 0
        # A SimpleQueue, bounded by `put`: its put and get are one C call each, where a `queue.Queue`'s are a
        # dozen Python calls under a condition variable — and every request puts its access line.
        self._queue: queue.SimpleQueue[logging.LogRecord | bytes | threading.Event | None] = queue.SimpleQueue()
        self._queue_size = queue_size
        self._write_lock = threading.Lock()
        self._hurry = threading.Event()  # `flush` and `stop`: cut the writer's gathering pause short
        self.handler = _QueueHandler(self)
        self.handler.addFilter(_Attach())
        self._thread = threading.Thread(target=self._run, name="routetax-log-writer", daemon=True)
        self._thread.start()

    def put(self, record: logging.LogRecord | bytes) -> None:
        """Queue a record, or a line already formatted and scrubbed (`access_line`)."""
        if self._queue.qsize() < self._queue_size:
            self._queue.put(record)
        else:
            self.dropped += 1  # said once, first in the writer's next write, and in total at exit

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Write what waits (for at most `timeout_s`: a stderr nobody reads must not hold the exit), then stop."""
        self._hurry.set()
        if self.dropped:  # past the bound if need be: the writer takes them last, after what waits
            self._queue.put(_dropped_record(self.dropped))
        self._queue.put(None)
        self._hurry.set()
        self._thread.join(timeout_s)

    def flush(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Wait until what is queued now is written (at shutdown: uvicorn may end the process by re-raising the
        signal that stopped it, and then `atexit` does not run). False when stderr did not take it in time."""
        written = threading.Event()
        self._hurry.set()
        self._queue.put(written)  # past the bound if need be: it is set once everything before it is written
        self._hurry.set()
        return written.wait(timeout_s)

    def _line(self, record: logging.LogRecord) -> bytes:
        data = self.format(record)
        if self.scrub is not None:
            data = self.scrub(data)
        return data + b"\n"

    def _run(self) -> None:
        said_dropping = False
        while True:
            record = self._queue.get()
            # Gather before writing: lines that come while the writer pauses are queued without waking it (a put
            # wakes only a thread waiting in `get`), so a busy proxy pays one wake-up, GIL hand-over and write per
            # `GATHER_S` rather than per line; an idle one, none (the writer waits in `get`).
            if self._hurry.wait(GATHER_S):
                self._hurry.clear()
            batch: list[bytes] = []
            size = 0
            if self.dropped and not said_dropping:
                said_dropping = True
                batch.append(self._line(_dropping_record()))
                size = len(batch[0])
            while record is not None:
                if isinstance(record, threading.Event):  # `flush`: everything before it is written first
                    if batch:
                        self._write(batch)
                        batch, size = [], 0
                    record.set()
                    try:
                        record = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    continue
                try:
                    line = record if isinstance(record, bytes) else self._line(record)
                except Exception:  # a line that cannot be formatted must not stop the ones after it
                    line = self._line(_unformattable(record))
                if batch and size + len(line) > _PIPE_BUF:
                    self._write(batch)
                    batch, size = [], 0
                batch.append(line)
                size += len(line)
                try:
                    record = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)
            if record is None:
                return

    def access_line(self, msg: str, fields: dict[str, Any]) -> bool:
        """Queue an access line as JSON bytes made here, in one `orjson.dumps` of a flat dict; False when this
        output writes text (the caller then logs it as any other line).

        An access line is the one line every request writes, so it skips what the other lines need: no
        `LogRecord` (nor the logging module's handler lock and filters), no formatting or scrub on the writer
        thread — which holds the GIL against the event loop while it works — and no scrub of the whole line:
        only its strings that a client could have written (`SCRUBBED_ACCESS_FIELDS`) are scrubbed; ids made by
        routetax, numbers, tier names, outcomes and refusal codes cannot carry a credential.
        """
        if self.format is not format_json:
            return False
        line = {"ts": timestamp_now(), "level": "INFO", "logger": ACCESS_LOGGER, "msg": msg, **fields}
        if self.scrub is not None:
            texts = [(name, value) for name in SCRUBBED_ACCESS_FIELDS if isinstance(value := line.get(name), str)]
            joined = "\n".join(value for _, value in texts).encode()
            if self.scrub(joined) != joined:  # seldom: one scrub of them all, and field by field only when it bites
                for name, value in texts:
                    line[name] = self.scrub(value.encode()).decode("utf-8", "replace")
        self.put(orjson.dumps(line, default=str, option=orjson.OPT_APPEND_NEWLINE))
        return True

    def _write(self, lines: list[bytes]) -> None:
        data = memoryview(b"".join(lines))
        with self._write_lock:
            while data:
                try:
                    written = os.write(self.fd, data)
                except BlockingIOError:  # a non-blocking stderr that is full: wait until it takes more
                    select.select([], [self.fd], [], 1.0)
                    continue
                except OSError:  # stderr closed: nothing can be said any more
                    return
                data = data[written:]


class _QueueHandler(logging.Handler):
    """In the caller's thread: the message and traceback as text, then onto the queue."""

    def __init__(self, output: Output) -> None:
        super().__init__()
        self.output = output

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record.msg, record.args = record.getMessage(), None
            if record.exc_info:
                record.exc_text = _TRACEBACKS.formatException(record.exc_info)
                exc = record.exc_info[1]
                if exc is not None and "exc_type" not in record.__dict__:
                    record.exc_type = type(exc).__name__
                record.exc_info = None
        except Exception:
            self.handleError(record)
            return
        self.output.put(record)


_TRACEBACKS = logging.Formatter()


def _dropping_record() -> logging.LogRecord:
    message = "log lines are being dropped: stderr does not keep up (counted; the total is said at exit)"
    record = logging.LogRecord("routetax.logs", logging.WARNING, __file__, 0, message, None, None)
    record.event = "log_lines_dropped"
    return record


def _dropped_record(dropped: int) -> logging.LogRecord:
    message = f"{dropped} log line(s) dropped in this run: stderr did not keep up"
    record = logging.LogRecord("routetax.logs", logging.WARNING, __file__, 0, message, None, None)
    record.event, record.dropped = "log_lines_dropped", dropped
    return record


def _unformattable(record: logging.LogRecord) -> logging.LogRecord:
    plain = logging.LogRecord(record.name, record.levelno, record.pathname, record.lineno, str(record.msg), None, None)
    plain.created = record.created
    return plain


_active: Output | None = None


def configure(
    fmt: LogFormat = LogFormat.JSON,
    level: str = "info",
    access: bool = True,
    scrub: Scrub | None = None,
    queue_size: int = QUEUE_SIZE,
) -> Output:
    """Make this process's logging routetax's: every logger through one `Output`, at `level`.

    Replaces whatever was configured before, in this process — also an `Output` a forked worker inherited
    from its supervisor, whose writer thread did not cross the fork. The access log (`routetax.access`)
    writes at INFO whatever `level` says, when it is on.
    """
    global _active
    previous, _active = _active, Output(fmt, scrub, queue_size)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(_active.handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO if access else logging.CRITICAL + 1)
    logging.captureWarnings(True)
    # No line carries the caller's file and line, thread or process: not looked up per line (about a tenth of an
    # access line's CPU, 30 -> 28 us in an in-process loop). `_srcfile = None` is the logging module's own switch.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # type: ignore[attr-defined]
    if previous is not None and previous._thread.is_alive():
        previous.stop()
    return _active


def active() -> Output | None:
    """This process's output, once `configure` made one (None in a library use or a test: plain logging then)."""
    return _active


def flush() -> None:
    """Write what waits now (the app's last act at shutdown); at most `STOP_TIMEOUT_S`."""
    if _active is not None:
        _active.flush()


def stop() -> None:
    """Write what waits and stop the writer (at exit; a forked worker calls it, for it skips `atexit`)."""
    global _active
    if _active is not None:
        active, _active = _active, None
        active.stop()


atexit.register(stop)
