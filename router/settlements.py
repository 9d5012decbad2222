"""Key settlements the store refused: kept until it takes them — a few in memory, the rest on disk.

A request served while the store could not take writes (`auth.on_store_error: open`, or a settlement
that failed after admission) still owes its key's budget its real cost. Such a settlement waits here
and is tried again every second until the store takes it, so spend during an outage is charged when
the store returns. Memory holds at most `memory` of them: beyond that, and at every retry that fails,
they go to a disk spool (`store.spool_dir/settlements`, the ledger's `Spool`, fsynced, replayed oldest
first — also by the next process, if this one stops first). Only when the disk refuses too are they
held in memory, up to `hold`, and past that dropped, counted (routetax_key_settlements_dropped_total)
and logged.

A replay may repeat a settlement that did land (a write that timed out after Redis applied it, a crash
mid-replay): the settle script's per-request marker makes the repeat a no-op, so nothing is charged twice.

Without a durable store (the in-process one) there is no spool: a later process could only replay into
a store that no longer exists, and the in-process store does not refuse writes anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from metering.spool import Spool
from router.keys import VirtualKey, load_key
from router.stopping import stop_task

log = logging.getLogger("routetax.auth")

SPOOL_SUBDIR = "settlements"  # under store.spool_dir (each worker's): the records' spool has the directory itself
RETRY_S = 1.0
MEMORY = 1_000  # settlements kept in memory before they go to disk
HOLD = 100_000  # settlements kept in memory when the disk refuses them too; past this, dropped and counted
REPLAY_BATCH = 256
LOG_EVERY_S = 10.0


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a finished request owes its key: the real cost and tokens, and the reservation to release."""

    request_id: str
    key: VirtualKey
    started_at: float
    member: str  # the reservation ('' for none)
    cost_usd: float
    tokens: int
    tokens_member: str = ""  # the tokens it was admitted with ('' for none, and in settlements spooled before them)

    def line(self) -> bytes:
        """One spool line. The key goes without its secret's hash: the settlement needs its id and limits only."""
        data = asdict(self)
        data["key"].pop("key_hash", None)
        return orjson.dumps(data)

    @classmethod
    def from_line(cls, line: bytes) -> Settlement:
        data = orjson.loads(line)
        return cls(**{**data, "key": load_key(orjson.dumps(data["key"]))})


Settle = Callable[[Settlement], Awaitable[None]]  # raises when the store does not take it


class Settlements:
    """Settlements waiting for the store, retried every `retry_s` until it takes them."""

    def __init__(
        self,
        settle: Settle,
        spool_dir: str | Path | None,
        *,
        memory: int = MEMORY,
        hold: int = HOLD,
        retry_s: float = RETRY_S,
        on_dropped: Callable[[int], None] | None = None,
    ) -> None:
        self._settle = settle
        self._spool = Spool(spool_dir, noun="settlement") if spool_dir is not None else None
        self._memory = memory
        self._hold = hold
        self._retry_s = retry_s
        self._on_dropped = on_dropped
        self._waiting: deque[Settlement] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._logged_at = -LOG_EVERY_S
        self.dropped = 0

    @property
    def waiting(self) -> int:
        """Settlements not yet charged, in memory and on disk."""
        return len(self._waiting) + (self._spool.depth if self._spool is not None else 0)

    def start(self) -> None:
        """Open the spool (a previous process's settlements are replayed by the first retry) and start retrying."""
        if self._spool is not None:
            self._spool.open()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="routetax-settlements")

    async def aclose(self) -> None:
        """Stop retrying; try the store once more with what memory holds, and spool what it still refuses.

        The disk is not replayed here: what waits there is the next process's, and a store that is down
        would only hold the shutdown up.
        """
        await stop_task(self._task)  # also when the Redis client swallowed the cancellation (router.stopping)
        self._task = None
        await self.retry(disk=False)
        if self._waiting:
            self._drop(len(self._waiting), "at shutdown, the store and the spool disk both refused them")
            self._waiting.clear()
        if self._spool is not None:
            self._spool.close()

    def refused(self, settlement: Settlement) -> None:
        """The store did not take `settlement`: keep it until it does."""
        if len(self._waiting) >= self._hold:
            self._drop(1, "the store and the spool disk both refuse them and memory holds no more")
            return
        self._waiting.append(settlement)
        if len(self._waiting) >= self._memory:
            self._wake.set()  # to disk now, not at the next retry

    async def retry(self, disk: bool = True) -> int:
        """Charge what waits, oldest first (the disk, then memory); spool what the store refuses. Returns how many."""
        charged = 0
        try:
            if disk and self._spool is not None and self._spool.pending:
                charged += await self._spool.replay(self._settle_lines, REPLAY_BATCH)
            while self._waiting:
                await self._settle(self._waiting[0])
                self._waiting.popleft()
                charged += 1
        except Exception:
            await self._to_disk()
        return charged

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._retry_s)
            if self._wake.is_set():  # memory is full: spool it, retry at the next tick
                self._wake.clear()
                await self._to_disk()
                continue
            try:
                charged = await self.retry()
            except Exception:  # the retry loop must outlive anything; what waits stays where it is
                log.exception("auth: retrying settlements failed")
                continue
            if charged:
                log.warning("auth: the store is back; %d settlement(s) from the outage charged", charged)

    async def _settle_lines(self, lines: list[bytes]) -> None:
        """Settle a batch of spooled settlements at once; raise if the store refused any (all are retried: the
        ones that landed are recognised by their marker)."""
        settlements = []
        for line in lines:
            try:
                settlements.append(Settlement.from_line(line))
            except Exception:  # a torn last line (a crash mid-append) was never acknowledged
                log.warning("auth: skipping an unreadable spooled settlement")
        results = await asyncio.gather(*(self._settle(s) for s in settlements), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _to_disk(self) -> None:
        if self._spool is None or not self._waiting:
            return
        batch = list(self._waiting)
        try:
            await self._spool.append([settlement.line() for settlement in batch])
        except OSError as exc:
            log.error("auth: the spool disk refused %d settlement(s) (%s); held in memory", len(batch), exc)
            return
        for _ in batch:  # refused() may have added more meanwhile: they stay
            self._waiting.popleft()

    def _drop(self, count: int, why: str) -> None:
        self.dropped += count
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:  # an outage must not become a log storm
            self._logged_at = now
            log.error("auth: settlements dropped, never charged (%d so far): %s", self.dropped, why)
        if self._on_dropped is not None:
            self._on_dropped(count)
