"""Where audit lines come from: files (gzip or plain, told apart by their magic bytes) and `-`.

Lines are streamed in binary through the file's own buffer, so memory stays the size of
one line whatever the file's size. A file is known by its size and the digest of its first
mebibyte (`Source.fingerprint`), so the same file given twice, or a copy, is read once. A
progress line is written to standard error only when it is a terminal (or `--progress` asks for
plain progress lines); on a pipe or in a file nothing but the report appears otherwise.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"  # UTF-8 byte order mark, as some Windows tools begin a file with
BUFFER = 1 << 20
FINGERPRINT_BYTES = 1 << 20


class UnreadableSource(OSError):
    """A file that cannot be opened, or a gzip stream that is corrupt or cut short."""


@dataclass
class Source:
    name: str  # the path as given, or "-"

    def open(self) -> IO[bytes]:
        buffered: io.BufferedReader
        try:
            buffered = _stdin_buffer() if self.name == "-" else open(self.name, "rb", buffering=BUFFER)  # noqa: SIM115
        except OSError as exc:
            raise UnreadableSource(f"{self.name}: {exc.strerror or exc}") from exc
        if buffered.peek(2)[:2] == GZIP_MAGIC:
            return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
        return buffered

    def lines(self) -> Iterator[bytes]:
        """Every line of the source; a corrupt or truncated gzip ends it with `UnreadableSource`."""
        stream = self.open()
        try:
            yield from stream
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise UnreadableSource(f"{self.name}: {exc}") from exc
        finally:
            if self.name != "-":
                stream.close()

    def first_line(self) -> bytes:
        """The first non-blank line, for sniffing the format before reading (b"" if none or unreadable).

        Standard input is peeked at without consuming it: what its buffer already holds.
        """
        if self.name == "-":
            head = _stdin_buffer().peek(BUFFER)
            if head[:2] == GZIP_MAGIC:
                return b""
            return next((line for line in map(_without_bom, head.splitlines()) if line.strip()), b"")
        try:
            for line in self.lines():
                line = _without_bom(line)
                if line.strip():
                    return line
        except UnreadableSource:
            return b""
        return b""

    def fingerprint(self) -> tuple[int, bytes] | None:
        """(size, digest of the first MiB) of a non-empty file; None for standard input or what cannot be read."""
        if self.name == "-":
            return None
        try:
            status = os.stat(self.name)
            if not stat.S_ISREG(status.st_mode) or not status.st_size:  # a pipe would be consumed by reading it
                return None
            with open(self.name, "rb") as f:
                head = f.read(FINGERPRINT_BYTES)
        except OSError:
            return None
        return status.st_size, hashlib.blake2b(head, digest_size=16).digest()


def _without_bom(line: bytes) -> bytes:
    return line[3:] if line.startswith(BOM) else line


_wrapped_stdin: dict[int, io.BufferedReader] = {}


def _stdin_buffer() -> io.BufferedReader:
    """Standard input as one peekable binary buffer, the same one for the sniff and the read."""
    raw = sys.stdin.buffer
    if isinstance(raw, io.BufferedReader):
        return raw
    if id(raw) not in _wrapped_stdin:
        _wrapped_stdin.clear()
        _wrapped_stdin[id(raw)] = io.BufferedReader(raw, BUFFER)  # type: ignore[arg-type]
    return _wrapped_stdin[id(raw)]


class Progress:
    """Lines read and the rate, on standard error: a `\\r`-rewritten status on a terminal, a few times a second.

    Off when standard error is not a terminal (a CI log or a file would fill with status lines), unless
    `force` (`--progress`): then plain lines, one every `EVERY_S_LOG` seconds, and a last one when done.
    """

    EVERY_LINES = 8192
    EVERY_S = 0.5
    EVERY_S_LOG = 5.0

    def __init__(self, stream: IO[str] | None = None, force: bool = False) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = self.terminal or force
        self.every_s = self.EVERY_S if self.terminal else self.EVERY_S_LOG
        self.started = time.monotonic()
        self.last = self.started
        self.shown = False
        self.lines = 0

    def tick(self, lines: int, name: str) -> None:
        if not self.enabled:
            return
        self.lines = lines
        now = time.monotonic()
        if now - self.last < self.every_s:
            return
        self.last = now
        rate = lines / max(now - self.started, 1e-9)
        status = f"routetax audit: {lines:,} lines, {rate:,.0f} lines/s - {name}"
        self.stream.write(f"\r\x1b[K{status}" if self.terminal else status + "\n")
        self.stream.flush()
        self.shown = True

    def done(self, lines: int | None = None) -> None:
        if self.terminal and self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        elif self.enabled and not self.terminal:
            lines = self.lines if lines is None else lines
            seconds = time.monotonic() - self.started
            self.stream.write(f"routetax audit: {lines:,} lines read in {seconds:,.1f} s\n")
            self.stream.flush()
