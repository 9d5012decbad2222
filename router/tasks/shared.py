"""The continuation index across workers and replicas, through the store (Redis).

Every answer filed in this process is also written to Redis in the background: queued, and written by
one writer every `FLUSH_S` in one script call (on a connection of its own, however many answers finish at once;
nothing waits on it); entries expire there after `tasks.idle_s` like they do here. A lookup that local memory
answers never touches Redis. Redis is read only when local memory cannot account for the history's
latest answer — the history holds model output this process never filed, so another process may have
(the kernel handed the previous request to another worker, or a load balancer to another replica):
then one pipeline asks for every candidate at once (one round trip; a miss is asked again 20 ms and then 50 ms
later, since a client may send its next step before the other process's write has landed), and what it finds is
adopted locally so the next step is a local hit. A first request (no model output in its history) never asks.

A history whose latest model output Redis did not know either (few-shot examples written into a prompt,
a transcript from elsewhere) is remembered as unknown for `UNKNOWN_TTL_S`, so an application that sends the
same such prefix with every request pays that miss (three round trips and 70 ms) once a minute, not per
request. A header task or a Responses id seen first here is looked up the same way, once per process.
Redis trouble makes a lookup miss (a continuation becomes a new task), never a failed request, and a
lookup waits at most `LOOKUP_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from functools import partial
from typing import Any

from redis.exceptions import NoScriptError

from metering.store_wire import ReplyError, StoreWire
from metering.task_atoms import Atom
from router.stopping import stop_task
from router.tasks.index import (
    REWRITE_CANDIDATES,
    Boundaries,
    Entry,
    Match,
    TaskIndex,
    bounded_put,
    confirmed,
    entry_from_json,
    entry_json,
)

log = logging.getLogger("routetax.tasks")

PREFIX = "routetax:{tasks}:"  # one hash tag: every command works on a Redis Cluster too
LOOKUP_TIMEOUT_S = 0.25
# Answers filed meanwhile share one call; a lookup that misses asks again RETRIES_S apart. On the writer's own
# connection (metering.store_wire) a call costs ~45,000 instructions, so it writes often enough that a step sent
# to another worker 8 ms after its answer (agent frameworks take 8-20 ms) finds that answer there; through the
# client (TLS, a cluster, the in-process store: ~284,000 a call) it writes every CLIENT_FLUSH_S.
FLUSH_S = 0.004
CLIENT_FLUSH_S = 0.01
UNKNOWN_TTL_S = 60.0
# A miss is asked again after each of these waits (the other process's write may be in flight): its writer
# flushes every FLUSH_S, but behind a busy loop or a contended core it can land tens of milliseconds late — one
# retry at 20 ms still split a streamed tool loop across two replicas, 1 task in 500.
RETRIES_S = (0.02, 0.05)
UNKNOWN_MAX = 10_000


SLOT_KEY = PREFIX + "slot"  # declared so a Redis Cluster routes the script to the `{tasks}` slot every key is in

# One call writes a batch of filed answers (a pipeline of four commands per answer cost ~30 µs of the proxy's
# event loop per answer to build, measured; these arguments are packed in C). ARGV: the TTL, the rewrite
# candidates kept per request, then 5 per answer: its answer key, request key, response key, name key (each
# "" when it has none) and its entry's JSON.
_WRITE = """
local ttl, keep = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 3, #ARGV, 5 do
  local raw = ARGV[i + 4]
  for _, at in ipairs({i, i + 2, i + 3}) do
    if ARGV[at] ~= '' then
      redis.call('SET', ARGV[at], raw, 'EX', ttl)
    end
  end
  local request = ARGV[i + 1]
  if request ~= '' then
    redis.call('RPUSH', request, raw)
    redis.call('LTRIM', request, -keep, -1)
    redis.call('EXPIRE', request, ttl)
  end
end
return 0
"""
_WRITE_SHA = hashlib.sha1(_WRITE.encode()).hexdigest()  # what Redis names the script once it has run it


def _name_key(name: str) -> str:
    return PREFIX + "n:" + hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class SharedTasks:
    """Background writes of filed answers, and the one-round-trip lookups local memory sends on a miss."""

    def __init__(self, redis: Any, index: TaskIndex) -> None:
        self._redis = redis
        self.index = index
        self._ttl = max(int(index.idle_s), 1)
        self._pending: list[tuple[bytes | None, bytes | None, bytes, str | None, str | None]] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._unknown: dict[bytes, float] = {}  # digest of a history's latest answer boundary -> when Redis lacked it
        self._wire = wire = StoreWire.for_store(redis)  # the writer's own connection (None: through the client)
        self._reads = StoreWire.for_store(redis)  # the lookups' (lookups are not queued behind a write)
        self._flush_s = FLUSH_S if wire is not None else CLIENT_FLUSH_S
        self._evalsha = partial(wire.call, "EVALSHA") if wire is not None else redis.evalsha
        self._eval = partial(wire.call, "EVAL") if wire is not None else redis.eval
        self._script_sent = False  # Redis has run the write script: calls name it by its digest

    def publish(
        self, key: bytes | None, request: bytes | None, entry: Entry, response_id: str | None, name: str | None
    ) -> None:
        """Queue an answer's entry under every key it was filed by; the writer sends it within `FLUSH_S`."""
        self._pending.append((key, request, entry_json(entry), response_id, name))
        self._wake.set()
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name="routetax-tasks-writer")

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self._flush_s)
            await self._flush()

    async def _flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        args: list[str | bytes | int] = [self._ttl, REWRITE_CANDIDATES]
        for key, request, raw, response_id, name in batch:  # a few strings per answer: packed in C, one call
            args += (
                PREFIX + "a:" + key.hex() if key is not None else "",
                PREFIX + "r:" + request.hex() if request is not None else "",
                PREFIX + "p:" + response_id if response_id is not None else "",
                _name_key(name) if name is not None else "",
                raw,
            )
        try:
            await self._write(args)
        except Exception as exc:  # a lost batch splits tasks across processes, never fails a request
            log.warning("could not share %d task continuations: %s", len(batch), exc)

    async def _write(self, args: list[str | bytes | int]) -> None:
        """One script call: by its digest once Redis has it, else whole (the first call, and after Redis restarted
        empty: its reply to the digest is NOSCRIPT)."""
        if self._script_sent:
            try:
                await self._evalsha(_WRITE_SHA, 1, SLOT_KEY, *args)
                return
            except NoScriptError:  # the client's form of that reply
                pass
            except ReplyError as exc:
                if not str(exc).startswith("NOSCRIPT"):
                    raise
        await self._eval(_WRITE, 1, SLOT_KEY, *args)
        self._script_sent = True

    async def aclose(self) -> None:
        await stop_task(self._writer)  # also when the Redis client swallowed the cancellation (router.stopping)
        self._writer = None
        await self._flush()
        for wire in (self._wire, self._reads):
            if wire is not None:
                await wire.aclose()

    async def find(
        self, digests: list[bytes], atoms: list[Atom], bounds: Boundaries, local: Match | None, now: float
    ) -> Match | None:
        """A longer match than `local` among what other processes filed, else `local`."""
        floor = local.end if local is not None else 0
        ends = [end for end in bounds.ends if end > floor]
        starts = [start for start in bounds.starts if start > floor]
        if not ends and not starts:
            return local
        latest = digests[bounds.ends[-1]]
        asked = self._unknown.get(latest)
        if asked is not None and now - asked < UNKNOWN_TTL_S:
            return local
        best = await self._ask(digests, atoms, ends, starts, local, now)
        if not bounds.covered(best):
            # The previous step may have been answered by another process a moment ago, its background write
            # not landed yet (a client can send its next step within a millisecond of the last event): ask
            # again, `RETRIES_S` apart. A history Redis still does not know is remembered below, so that wait is
            # paid once per `UNKNOWN_TTL_S` for a prefix sent again and again (few-shot examples).
            for wait_s in RETRIES_S:
                await asyncio.sleep(wait_s)
                best = await self._ask(digests, atoms, ends, starts, local, now)
                if bounds.covered(best):
                    break
        if not bounds.covered(best):
            bounded_put(self._unknown, latest, now, UNKNOWN_MAX)
        return best

    async def _ask(
        self,
        digests: list[bytes],
        atoms: list[Atom],
        ends: list[int],
        starts: list[int],
        local: Match | None,
        now: float,
    ) -> Match | None:
        """One round trip: the longest of the candidates other processes filed, else `local`."""
        commands: list[tuple[Any, ...]] = (
            [("MGET", *(PREFIX + "a:" + digests[end].hex() for end in ends))] if ends else []
        )
        commands += [("LRANGE", PREFIX + "r:" + digests[start].hex(), 0, -1) for start in starts]
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT_S):
                results = await self._read(commands)
        except Exception as exc:  # a missed continuation starts a new task; the request is served all the same
            log.warning("could not look up a task continuation in the store: %s", exc)
            return local
        best = local
        if ends:
            for end, raw in reversed(list(zip(ends, results[0], strict=True))):
                entry = entry_from_json(raw) if raw is not None else None
                if self.index.alive(entry, now) is not None:
                    assert entry is not None
                    best = Match(entry, end, False)
                    self.index.adopt(digests[end], entry)
                    break
            results = results[1:]
        for start, raws in reversed(list(zip(starts, results, strict=True))):
            if best is not None and start <= best.end:
                break
            for raw in reversed(raws or ()):
                entry = entry_from_json(raw)
                if self.index.alive(entry, now) is not None and confirmed(entry, atoms[start:]):
                    assert entry is not None
                    return Match(entry, start, True)
        return best

    async def named(self, name: str, now: float) -> Entry | None:
        return await self._get(_name_key(name), now)

    async def response(self, response_id: str, now: float) -> Entry | None:
        """The task of a response another process answered. A client may name a response the moment it has it,
        before the other process's background write has landed: a miss is asked again, `RETRIES_S`
        apart (a miss is rare: an id from before routetax, or older than `tasks.idle_s`)."""
        entry = await self._get(PREFIX + "p:" + response_id, now)
        for wait_s in RETRIES_S:
            if entry is not None:
                break
            await asyncio.sleep(wait_s)
            entry = await self._get(PREFIX + "p:" + response_id, now)
        if entry is not None:
            self.index.put_response(response_id, entry)
        return entry

    async def _get(self, key: str, now: float) -> Entry | None:
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT_S):
                if self._reads is not None:
                    raw = await self._reads.call("GET", key)
                else:
                    raw = await self._redis.get(key)
        except Exception as exc:
            log.warning("could not look up a task in the store: %s", exc)
            return None
        return self.index.alive(entry_from_json(raw), now) if raw is not None else None

    async def _read(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Read commands in one round trip: on the lookups' own connection, else a pipeline of the client. Each
        process has many requests that may look up at once, and one writer: lookups do not queue behind a batch."""
        if self._reads is not None:
            results = await self._reads.calls(commands)
            for result in results:
                if isinstance(result, Exception):
                    raise result
            return results
        pipe = self._redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return list(await pipe.execute())
