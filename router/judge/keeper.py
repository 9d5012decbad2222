"""Where the judge keeps sampled tasks' final exchanges, and the two words on a task it compares.

Every step of a sampled task overwrites its task's exchange in the store, under the ledger's `{ledger}`
hash tag (one Redis Cluster slot), with a TTL a little longer than `tasks.idle_s`: whichever process
closes the task reads it there. The request never waits for it: `keep` only puts the exchange in a
small table that one background writer empties (the later step of a task replaces the earlier one
there too), and past `MAX_PENDING` waiting exchanges new ones are dropped and counted, not queued.
The judge is measurement: a store that cannot take a write loses that exchange (logged, at most
once a minute), and the task simply goes ungraded.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable

from metering.ledger import DEFAULT_PREFIX, Keys
from metering.store import Store
from router.judge.exchange import FinalExchange

log = logging.getLogger("routetax.judge")

MAX_PENDING = 10_000  # exchanges waiting for the writer (~10 KB each at most)
WORDS_TTL_S = 7 * 24 * 3600  # how long a judged task waits for the application's word, and the other way round

# A batch of exchanges in one round trip (a script, not a pipeline: Redis Cluster takes it, every key in one slot).
_SET_ALL = """
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[1])
end
"""
WRITE_BATCH = 100
CLOSE_TIMEOUT_S = 5.0

# One side's word on a task (`judge` or `feedback`), kept once: returns the other side's word when this side
# is new and the other had already spoken, so each task's agreement is counted exactly once, on any replica.
_WORD = """
local had = redis.call('HEXISTS', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if had == 1 then return false end
return redis.call('HGET', KEYS[1], ARGV[3])
"""


def task_digest(key_id: str | None, task_id: str) -> str:
    """A fixed-size name for a task (a header task id is any printable string of the client's)."""
    return hashlib.blake2b(f"{key_id or '-'}\x00{task_id}".encode(), digest_size=16).hexdigest()


class ExchangeKeeper:
    """Keeps the last exchange of each sampled task in the store, written in the background."""

    def __init__(
        self,
        ttl_s: float,
        prefix: str = DEFAULT_PREFIX,
        on_dropped: Callable[[], None] | None = None,
    ) -> None:
        self.ttl_s = max(int(ttl_s), 1)
        self.base = f"{Keys(prefix).base}:judge"
        self._pending: dict[str, bytes] = {}
        self._writing: dict[str, bytes] = {}  # the batch the writer is sending
        self._wake = asyncio.Event()
        self._store: Store | None = None
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self._on_dropped = on_dropped
        self._logged_at = -3600.0

    def exchange_key(self, key_id: str | None, task_id: str) -> str:
        return f"{self.base}:exchange:{task_digest(key_id, task_id)}"

    def words_key(self, key_id: str | None, task_id: str) -> str:
        return f"{self.base}:words:{task_digest(key_id, task_id)}"

    def start(self, store: Store) -> None:
        self._store = store
        self._closing = False
        self._writer = asyncio.get_running_loop().create_task(self._write(), name="routetax-judge-exchanges")

    async def aclose(self) -> None:
        """Write what the last requests left (a task may still close in another process), then stop."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        self._closing = True
        self._wake.set()
        try:  # not cancelled mid-write: a command cut half way can leave the connection unusable
            await asyncio.wait_for(writer, CLOSE_TIMEOUT_S)
        except TimeoutError:
            log.warning("the judge's last final exchanges could not be written in %g s", CLOSE_TIMEOUT_S)

    def keep(self, key_id: str | None, task_id: str, exchange: FinalExchange) -> None:
        """Replace the task's exchange; never waits and never raises."""
        key = self.exchange_key(key_id, task_id)
        if key not in self._pending and len(self._pending) >= MAX_PENDING:
            if self._on_dropped is not None:
                self._on_dropped()
            return
        self._pending[key] = exchange.to_json()
        self._wake.set()

    async def take(self, key_id: str | None, task_id: str) -> FinalExchange | None:
        """The task's exchange, removed from the store: only one grader ever reads it (None: none kept)."""
        key = self.exchange_key(key_id, task_id)
        # Not written yet, or being written: this process has the newest one (what is in flight lands anyway,
        # and expires with its TTL).
        local = self._pending.pop(key, None) or self._writing.get(key)
        assert self._store is not None
        try:
            stored = await self._store.getdel(key)
        except Exception:
            if local is None:
                raise
            stored = None
        raw = local or stored
        return FinalExchange.from_json(raw) if raw is not None else None

    async def word(self, key_id: str | None, task_id: str, side: str, success: bool) -> bool | None:
        """Record one side's word on a task; the other side's, when this is the first time both are known."""
        other = "feedback" if side == "judge" else "judge"
        assert self._store is not None
        key = self.words_key(key_id, task_id)
        value = await self._store.eval(_WORD, 1, key, side, "1" if success else "0", other, WORDS_TTL_S)
        if value is None:
            return None
        return (value.decode() if isinstance(value, bytes) else str(value)) == "1"

    async def _write(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()
            if self._closing:
                return

    async def _flush(self) -> None:
        if not self._pending or self._store is None:
            return
        batch, self._pending = self._pending, {}
        self._writing = batch
        items = list(batch.items())
        try:
            for start in range(0, len(items), WRITE_BATCH):
                chunk = items[start : start + WRITE_BATCH]
                keys, values = [key for key, _ in chunk], [value for _, value in chunk]
                await self._store.eval(_SET_ALL, len(keys), *keys, self.ttl_s, *values)
        except Exception as exc:  # measurement only: these tasks go ungraded
            now = time.monotonic()
            if now - self._logged_at >= 60:
                self._logged_at = now
                log.warning("the judge could not keep %d final exchanges in the store: %s", len(batch), exc)
        finally:
            self._writing = {}
