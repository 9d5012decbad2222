"""The disk spool: where records wait, in order, while Redis cannot take them.

Nothing is lost: a batch that could not be written to Redis is appended to `spool.jsonl`
(one JSON record per line) and fsynced before the writer moves on. To replay, the active
file is first renamed to `replay-<seq>.jsonl` (an atomic rename, directory fsynced), so new
failures keep appending to a fresh `spool.jsonl` while the old one is read. A replay file
is deleted only after every line in it has been written to Redis. A crash mid-replay leaves
the file in place and the next process replays it from the start: the records already
written are recognised by the ledger's per-record marker and not counted twice.

One process owns a spool directory (an exclusive `flock` on `spool.lock`); replicas each
need their own directory. File I/O runs in a worker thread so an fsync never stalls the
event loop that serves requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

log = logging.getLogger("routetax.ledger")

ACTIVE = "spool.jsonl"
LOCK = "spool.lock"


class SpoolLocked(RuntimeError):
    """Another live process owns this spool directory."""


def holder(directory: str | os.PathLike[str]) -> int | None:
    """The process that holds `directory`'s spool lock now (its pid; 0 when it wrote none), or None: free.

    For a start that would fail on the lock: `routetax serve` asks first, so a second process on the same
    spool is told so in one line instead of dying with a traceback in the middle of its startup.
    """
    path = Path(directory) / LOCK
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None  # never opened: nobody can hold it
    except OSError:
        return None  # unreadable here: the start itself will say what is wrong with the directory
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            written = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            return int(written) if written.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class Spool:
    """Append-only JSONL files of records (or of anything one JSON line each), replayed oldest first."""

    def __init__(self, directory: str | os.PathLike[str], noun: str = "record", max_bytes: int | None = None) -> None:
        self.directory = Path(directory)
        self.noun = noun  # what a line is, for the logs (the key settlements use this spool too)
        self.max_bytes = max_bytes  # a size cap: beyond it an append is refused as a full disk's would be
        self.depth = 0  # lines on disk not yet confirmed written to Redis
        self.bytes = 0  # bytes on disk not yet confirmed written to Redis (what the cap counts)
        self._lock_fd: int | None = None
        self._replay_offset = 0  # bytes of the oldest replay file already written to Redis

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Take the directory lock and count what a previous process left behind."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SpoolLocked(f"spool directory {self.directory} is in use by another process") from None
        self._lock_fd = fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # who holds it, for the next process's one-line refusal
        self.depth = sum(_count_lines(p) for p in self._files())
        self.bytes = sum(p.stat().st_size for p in self._files())
        if self.depth:
            log.warning("spool %s holds %d %s(s) from a previous run; replaying", self.directory, self.depth, self.noun)

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @property
    def pending(self) -> bool:
        return self.depth > 0

    def room(self) -> int:
        """Bytes an append may still take: the disk's free space, or less under `max_bytes`."""
        try:
            stat = os.statvfs(self.directory)
            free = stat.f_bavail * stat.f_frsize
        except OSError:
            free = 0
        return free if self.max_bytes is None else min(free, self.max_bytes - self.bytes)

    # -- writing ---------------------------------------------------------------------------

    async def append(self, lines: list[bytes]) -> None:
        """Append a batch of JSON lines and fsync it; only then is it safe to drop from memory."""
        if not lines:
            return
        data = b"".join(line + b"\n" for line in lines)
        if self.max_bytes is not None and self.bytes + len(data) > self.max_bytes:
            raise OSError(errno.ENOSPC, f"spool size cap of {self.max_bytes} bytes reached")
        await asyncio.to_thread(self._append_sync, data)
        self.depth += len(lines)
        self.bytes += len(data)

    def _append_sync(self, data: bytes) -> None:
        path = self.directory / ACTIVE
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            except OSError:
                # A full disk may have taken part of the batch: cut it off, or the torn line would swallow the
                # next batch's first record at replay. The caller keeps the whole batch.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)
        if created:
            _fsync_dir(self.directory)

    # -- replay ----------------------------------------------------------------------------

    async def replay(
        self,
        write: Callable[[list[bytes]], Awaitable[None]],
        batch_size: int,
        max_batches: int | None = None,
    ) -> int:
        """Send spooled lines (one JSON record each) to `write` in order, oldest file first.

        Returns how many lines were sent. A torn last line left by a crash mid-append is passed
        on like any other: it was never acknowledged, and the writer skips what it cannot parse.

        Stops at the first exception from `write` (raised to the caller) with the position
        kept, so the next call resumes there. `max_batches` bounds one call so live records
        are not starved while a large spool drains.
        """
        sent = 0
        batches = 0
        while max_batches is None or batches < max_batches:
            path = await asyncio.to_thread(self._oldest_replay_file)
            if path is None:
                break
            lines, end = await asyncio.to_thread(_read_lines, path, self._replay_offset, batch_size)
            if not lines:
                await asyncio.to_thread(_remove, path, self.directory)
                self._replay_offset = 0
                continue
            await write(lines)
            self.bytes = max(0, self.bytes - (end - self._replay_offset))
            self._replay_offset = end
            self.depth = max(0, self.depth - len(lines))
            sent += len(lines)
            batches += 1
        return sent

    def _oldest_replay_file(self) -> Path | None:
        """The oldest `replay-*` file, rotating the active file into one when none is left."""
        replays = self._replay_files()
        if replays:
            return replays[0]
        active = self.directory / ACTIVE
        if not active.exists() or active.stat().st_size == 0:
            return None
        seq = 1
        target = self.directory / f"replay-{seq:012d}.jsonl"
        os.rename(active, target)
        _fsync_dir(self.directory)
        self._replay_offset = 0
        return target

    def _replay_files(self) -> list[Path]:
        return sorted(self.directory.glob("replay-*.jsonl"))

    def _files(self) -> list[Path]:
        active = self.directory / ACTIVE
        return self._replay_files() + ([active] if active.exists() else [])


def _read_lines(path: Path, offset: int, limit: int) -> tuple[list[bytes], int]:
    """Up to `limit` complete lines from `offset`, and the offset after the last one returned."""
    lines: list[bytes] = []
    with open(path, "rb") as f:
        f.seek(offset)
        while len(lines) < limit:
            line = f.readline()
            if not line:
                break
            offset += len(line)
            line = line.strip()
            if line:
                lines.append(line)
    return lines, offset


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def _remove(path: Path, directory: Path) -> None:
    os.unlink(path)
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def adopt_orphans(root: Path, owners: list[Path], sub: str = "") -> int:
    """Move the spool files of directories under `root` that no process of this run will own into `owners[0]`.

    `routetax serve --workers N` gives worker i the spool `root/worker-<i>` (one worker: `root` itself).
    Records spooled by a run with another worker count would otherwise wait, unreplayed, in a directory
    nobody opens. Each file becomes a replay file of `owners[0]` (replayed before its own, which is fine:
    the ledger's per-record markers make the order of replays irrelevant). A directory still locked by a
    live process is left alone. Returns how many files were moved. `sub`: a spool kept in that subdirectory of
    each (the key settlements'); `owners` then name those subdirectories.
    """
    candidates = [d / sub if sub else d for d in [root, *sorted(root.glob("worker-*"))]] if root.is_dir() else []
    target = owners[0]
    moved = 0
    for directory in candidates:
        if directory in owners or not directory.is_dir():
            continue
        files = sorted(directory.glob("replay-*.jsonl")) + [p for p in [directory / ACTIVE] if p.exists()]
        if not files:
            continue
        directory_lock = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(directory_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(directory_lock)
            continue
        try:
            target.mkdir(parents=True, exist_ok=True)
            for path in files:
                origin = directory.parent.name if sub else directory.name
                name = f"replay-000000000000-{origin}-{path.stem}"
                destination, n = target / f"{name}.jsonl", 0
                while destination.exists():
                    n += 1
                    destination = target / f"{name}-{n}.jsonl"
                os.rename(path, destination)
                moved += 1
            _fsync_dir(target)
            _fsync_dir(directory)
        finally:
            os.close(directory_lock)
    return moved
