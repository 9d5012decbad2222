"""The durable ledger: every finished record, written to Redis in the background, exactly once.

The request path calls `Ledger.submit(record)`, which makes the record's JSON and its part of the write
script's arguments there and then (`Queued`) and appends them to an in-memory queue: no await, no I/O, no
exception. A background task takes the queue in batches (up to
`batch_size` records, or whatever arrived within `flush_interval_s`) and writes each batch
in one round trip: a Lua script that, for each record, first sets a per-record marker
(`SET ...:seen:<request_id> NX EX`) and only when that succeeds appends the record to the
stream and bumps the hourly rollups — so a record replayed after a write that timed out but
did land is not counted twice.

When Redis cannot take a batch (down, timing out, out of memory) the batch goes to the disk
spool (`metering.spool`) and, from then on, so does every later batch until the spool has
been replayed: the order records reached the ledger is the order they reach Redis.

When neither can take records — Redis down and the spool's room, less what the records queued in
memory will take, below `reserve_bytes` — the ledger stops `accepting`: the proxy refuses new requests
(503 `ledger_unavailable`) until Redis or the disk takes records again, and the reserve keeps room on
disk for the requests already being answered. The queued records count at once, not at the writer's next
step: a burst answered while an fsync is slow would otherwise overrun the reserve.
At shutdown the log says exactly how many records, if any, were lost in the whole run.

Every key shares the hash tag `{ledger}`, so all of it lives in one Redis Cluster slot and
the script never touches keys in two slots. The layout is described in docs/ledger.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.exceptions import NoScriptError

from metering.cost import base_usd
from metering.logs.limiter import RateLimitedLog
from metering.record import Record, Usage
from metering.spool import Spool
from metering.store import Store

log = logging.getLogger("routetax.ledger")

DEFAULT_PREFIX = "routetax"
DEFAULT_RETENTION = 1_000_000  # records kept in the stream (approximate MAXLEN)
DEFAULT_ROLLUP_TTL_S = 90 * 24 * 3600
DEFAULT_SEEN_TTL_S = 7 * 24 * 3600  # how long a replay is recognised as a duplicate
CLOCK_SKEW_S = 300.0  # proxy clocks vs the Redis clock that stamps stream ids

# One call writes a whole batch, so it needs no pipeline (Redis Cluster refuses scripts in pipelines) and
# every key it touches is declared and in the `{ledger}` slot.
# KEYS: 1 the stream, 2 the index of open tasks, then per record 2 to 4 keys: seen marker, hour rollup,
#       [key's hour rollup], [its task's hash]
# ARGV: 1 seen ttl, 2 stream maxlen, 3 rollup ttl, 4 task idle s, 5 task grace s, then 2 per record: its JSON
#       (the stream entry) and one JSON object of what the script needs of it — `m` its seen-marker value, `h`
#       {field: increment} of its hour rollup, `k` of its key's (absent without a key; that key is then not in
#       KEYS), `t` its task's step (absent when it has no task; nor is the task's hash).
#       Two arguments per record, one JSON made for them: each argument is encoded one by one by the Redis client
#       and each JSON made apart on the proxy's event loop (six per record before: a sixth of the writer's CPU).
# The marker's value is the id of the key that made the request, or `1` without one, then (for a step of a
# task) a \x1f and the task id: its existence is the message (feedback on any replica reads it to know the
# request), the key id says who may send that feedback, the task id which task the request was a step of.
# Older versions wrote `<final tier>|<class>|<usd>`, read the same way (as keyless, without a task).
# The increments of the batch's new records are summed per rollup key in the script and applied with
# one HINCRBY per field and key: Redis's cost per record is then a SET, an XADD and two table sums
# rather than ~20 hash commands (78 µs per record before, measured with INFO commandstats).
# A step of a task costs three more commands: its task's state (one JSON string: a GET, a merge in Lua, a
# SET) and its score in the open index (when it is due to close). A hash read whole and written back with
# one HSET cost 40 µs per step against ~15 µs for the JSON string (bench/ledger_script_cost.py); the JSON
# keeps 14 significant digits (cjson's), a tenth of a millisecond on a unix time.
# Fields ending in `_usd` are floats (HINCRBYFLOAT, written with 17 significant digits: exact for a
# double); every other field is an integer count (HINCRBY).
# Returns how many records were new; the others were already written (a replay, a double submit).
_MERGE_TASK = """
local function merge_task(key, index, member, t, idle, grace)
  local raw = redis.call('GET', key)
  local h = raw and cjson.decode(raw) or {}
  local first = (h.requests or 0) == 0
  h.requests = (h.requests or 0) + 1
  h.attempts = (h.attempts or 0) + t.a
  h.cost_usd = (h.cost_usd or 0) + t.c
  h.prompt_tokens = (h.prompt_tokens or 0) + t.p
  h.cached_tokens = (h.cached_tokens or 0) + t.ca
  h.completion_tokens = (h.completion_tokens or 0) + t.co
  h.reasoning_tokens = (h.reasoning_tokens or 0) + t.r
  h.steps = math.max(h.steps or 0, t.n)
  if first or t.s < h.started_at then h.started_at = t.s end
  h.v = (h.v or 0) + 1
  h.key_id, h.task_id = t.k, t.id
  local tiers = h.tiers or ''
  for _, tier in ipairs(t.tiers) do
    if not string.find(',' .. tiers .. ',', ',' .. tier .. ',', 1, true) then
      tiers = (tiers == '') and tier or (tiers .. ',' .. tier)
    end
  end
  h.tiers = tiers
  if h.class ~= 'agentic' and (t.cl == 'agentic' or h.class == nil) then
    h.class, h.class_reason = t.cl, t.cr
  end
  if first or t.n < h.first_step or (t.n == h.first_step and t.s < h.first_started) then
    h.first_step, h.first_started, h.arm, h.explored, h.pinned = t.n, t.s, t.arm, t.ex, t.pin
  end
  if first or t.e >= h.last_end then  -- the latest step so far: the task's last request, its calls
    h.last_end, h.last_status, h.last_outcome, h.last_degraded = t.e, t.st, t.o, t.dg
    local run = 0
    if t.ac ~= '' then
      run = (t.ac == h.last_calls) and ((h.run or 0) + 1) or 1
    end
    h.last_calls, h.run = t.ac, run
    h.max_run = math.max(h.max_run or 0, run)
  end
  if t.x == 1 and h.ended_by == nil then
    h.ended_by, h.end_at = 'client', t.e
  end
  redis.call('SET', key, cjson.encode(h))
  local due = h.ended_by and (h.end_at + grace) or (h.last_end + idle)
  redis.call('ZADD', index, string.format('%.17g', due), member)
end
"""
_WRITE_BATCH = (
    _MERGE_TASK
    + """
local sums, order = {}, {}  -- rollup key -> {field -> increment}, summed over the batch's new records
local function add(key, increments)
  local fields = sums[key]
  if not fields then
    fields = {}
    sums[key] = fields
    order[#order + 1] = key
  end
  for field, value in pairs(increments) do
    fields[field] = (fields[field] or 0) + value
  end
end
local idle, grace = tonumber(ARGV[4]), tonumber(ARGV[5])
local k, new = 3, 0
for a = 6, #ARGV, 2 do
  local r = cjson.decode(ARGV[a + 1])
  local nkeys = 2
  if r.k then nkeys = nkeys + 1 end
  if r.t then nkeys = nkeys + 1 end
  if redis.call('SET', KEYS[k], r.m, 'NX', 'EX', ARGV[1]) then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'r', ARGV[a])
    add(KEYS[k + 1], r.h)
    if r.k then
      add(KEYS[k + 2], r.k)
    end
    if r.t then
      merge_task(KEYS[k + nkeys - 1], KEYS[2], r.t.m, r.t, idle, grace)
    end
    new = new + 1
  end
  k = k + nkeys
end
for _, key in ipairs(order) do
  for field, value in pairs(sums[key]) do
    if string.sub(field, -4) == '_usd' then
      redis.call('HINCRBYFLOAT', key, field, string.format('%.17g', value))
    else
      redis.call('HINCRBY', key, field, string.format('%d', value))
    end
  end
  redis.call('EXPIRE', key, ARGV[3])
end
return new
"""
)

# A record's JSON and its script arguments are made when it is submitted (`Queued`), in the finished-request
# pipeline, while the record is still in the CPU's caches: made by the writer, up to 50 ms later and 32 records at
# a time, the same work cost twice the CPU (bench/metering_stages.py), and a batch made in one go held every request
# that arrived meanwhile for ~1 ms — the whole p99 of the proxy at 1,000 requests a second (bench/tasks.py). A live
# batch is then only gathered and sent. A spool replay still reads its records back and makes their arguments
# itself, yielding every 4 records so that the wait stays near 0.1 ms.
_YIELD_EVERY = 4


@dataclass(slots=True)
class Queued:
    """A submitted record, ready to write: its JSON line (what Redis's stream or the spool stores) and its part of
    the write script's KEYS and ARGV."""

    line: bytes
    record: Record
    keys: list[str]
    args: list[bytes]


class Keys:
    """Key names under one prefix; all share the `{ledger}` hash tag (one cluster slot)."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.base = f"{prefix}:{{ledger}}"
        self.records = f"{self.base}:records"

    def seen(self, request_id: str) -> str:
        return f"{self.base}:seen:{request_id}"

    def hour(self, hour: str) -> str:
        return f"{self.base}:hour:{hour}"

    def key_hour(self, key_id: str, hour: str) -> str:
        return f"{self.base}:key:{key_id}:{hour}"

    @property
    def tasks_open(self) -> str:
        """Sorted set of open tasks (`task_member`), scored by when each is due to close (unix seconds)."""
        return f"{self.base}:tasks:open"

    def task(self, member: str) -> str:
        """An open (or recently closed) task's aggregated hash."""
        return f"{self.base}:task:{member}"


def task_member(key_id: str | None, task_id: str) -> str:
    """A task's name in the open index and in its keys: `<key id or ->:<task id>` (key ids hold no `:`).

    A client's own task id is scoped to its key, so two keys' tasks of one id are two tasks.
    """
    return f"{key_id or '-'}:{task_id}"


_HOURS: dict[int, str] = {}  # unix hour -> YYYYMMDDHH: every record of an hour formats the same string


def hour_of(when: str | float | datetime) -> str:
    """`YYYYMMDDHH` (UTC) for a unix time, a datetime, or an hour string passed through."""
    if isinstance(when, (int, float)):
        hour = int(when // 3600)
        text = _HOURS.get(hour)
        if text is None:
            if len(_HOURS) > 64:
                _HOURS.clear()
            text = _HOURS[hour] = datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y%m%d%H")
        return text
    if isinstance(when, str):
        if len(when) != 10 or not when.isdigit():
            raise ValueError(f"hour must be YYYYMMDDHH, got {when!r}")
        return when
    moment = when if when.tzinfo else when.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y%m%d%H")


_LABELS: dict[str | None, str] = {}  # tier or class name -> its field-safe form: a handful of names, made once each


def _label(value: str | None) -> str:
    """A tier or class name made safe for the `tier|class|metric` field syntax."""
    label = _LABELS.get(value)
    if label is None:
        if len(_LABELS) > 256:  # names come from the configuration, but never grow without bound
            _LABELS.clear()
        label = _LABELS[value] = (value or "none").replace("|", "_")
    return label


class _FieldNames(dict[str, str]):
    """The rollup fields of one tier and class, `tier|class|<metric>` by metric, each string made once.

    Every record of a tier and class adds to the same dozen fields: looked up here, a field's name is a string
    already made (and hashed), not a new concatenation per record and field. `cf` holds the counterfactual
    fields by baseline tier (`tier|class|cf_<baseline>_usd`)."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix
        self.cf: dict[str, str] = {}

    def __missing__(self, metric: str) -> str:
        name = self[metric] = self.prefix + metric
        return name

    def counterfactual(self, baseline: str) -> str:
        name = self.cf.get(baseline)
        if name is None:
            name = self.cf[baseline] = f"{self.prefix}cf_{_label(baseline)}_usd"
        return name


_FIELDS: dict[tuple[str | None, str | None], _FieldNames] = {}  # (tier, class) -> its field names: a handful


def _fields(tier: str | None, cls: str | None) -> _FieldNames:
    names = _FIELDS.get((tier, cls))
    if names is None:
        if len(_FIELDS) > 1024:  # tiers and classes come from the configuration, but never grow without bound
            _FIELDS.clear()
        names = _FIELDS[tier, cls] = _FieldNames(f"{_label(tier)}|{_label(cls)}|")
    return names


def billed_usages(record: Record) -> list[Usage]:
    """The usage of every billed attempt (or the record's own, when attempts carry none): what was paid for."""
    usages = [a.usage for a in record.attempts if a.billed and a.usage is not None]
    if not usages and record.usage is not None:
        usages = [record.usage]
    return usages


def billed_tokens(record: Record) -> tuple[int, int, int, int]:
    """(prompt, cached, completion, reasoning) tokens summed over `billed_usages`: what the rollups and the task
    step count."""
    prompt = cached = completion = reasoning = 0
    for usage in billed_usages(record):
        prompt += usage.prompt_tokens
        cached += usage.cached_tokens
        completion += usage.completion_tokens
        reasoning += usage.reasoning_tokens
    return prompt, cached, completion, reasoning


def _add(fields: dict[str, int | float], name: str, value: int | float) -> None:
    if value:
        fields[name] = fields.get(name, 0) + value


def rollup_increments(
    record: Record, tokens: tuple[int, int, int, int] | None = None
) -> tuple[dict[str, int | float], dict[str, int | float]]:
    """The {field: increment} one record adds to its hour rollup, and to its key's rollup (zero ones left out).

    Requests, successes and spend are filed under the tier the policy routed to first, because
    success rate and routing overhead are measured per first-routed tier (docs/routing-tax.md).
    `spend_usd`/`billed_attempts` are filed under the tier each billed attempt actually ran on,
    which is what "spend on that tier" means for cost per completed task. `tokens`: the record's
    `billed_tokens`, when the caller has them already.

    Written out field by field rather than through a helper per field: this runs for every record, and the
    calls were half of the ledger writer's time per record.
    """
    cls = record.label
    at = _fields(record.routed_tier or record.final_tier, cls)  # every field but the per-attempt ones
    # Each of these fields once (each a distinct metric; the outcome is none of the others' names): set,
    # not summed. Zero increments are left out.
    hour: dict[str, int | float] = {at["requests"]: 1, at[record.outcome]: 1}  # success | degraded | ...
    if record.attempts:
        hour[at["attempts"]] = len(record.attempts)
    if record.retries:
        hour[at["retries"]] = record.retries
    if record.fallbacks:
        hour[at["fallbacks"]] = record.fallbacks
    if record.estimated:
        hour[at["estimated"]] = 1
    if record.cost_usd:
        hour[at["cost_usd"]] = record.cost_usd
    if record.cache_loss_usd:
        hour[at["cache_loss_usd"]] = record.cache_loss_usd
    prompt, cached, completion, reasoning = billed_tokens(record) if tokens is None else tokens
    if prompt:
        hour[at["prompt_tokens"]] = prompt
    if cached:
        hour[at["cached_tokens"]] = cached
    if completion:
        hour[at["completion_tokens"]] = completion
    if reasoning:
        hour[at["reasoning_tokens"]] = reasoning
    base = base_usd(record)  # the report's base: the final attempt, less cache loss
    if base:
        hour[at["base_usd"]] = base
    for baseline, usd in sorted(record.counterfactual_usd.items()):
        _add(hour, at.counterfactual(baseline), usd)
    for attempt in record.attempts:
        if attempt.billed:
            tier = _fields(attempt.tier, cls)
            _add(hour, tier["billed_attempts"], 1)
            _add(hour, tier["spend_usd"], attempt.cost_usd)

    per_key: dict[str, int | float] = {}
    if record.key_id:
        per_key["requests"] = 1
        if record.cost_usd:
            per_key["cost_usd"] = record.cost_usd
        if prompt + completion:
            per_key["tokens"] = prompt + completion
    return hour, per_key


MARKER_TASK_SEPARATOR = "\x1f"  # not printable: never in a key id nor in a client's task id


def marker_value(record: Record) -> str:
    """The seen marker of a record: its key id (or `1`), then its task id after a separator when it has one."""
    key = record.key_id or "1"
    return key if not record.task_id else key + MARKER_TASK_SEPARATOR + record.task_id


def marker_key(value: str | bytes | None) -> str | None:
    """The key id that made a request, from its seen marker (None: open mode, or a marker older than that)."""
    if value is None:
        return None
    text = value.decode() if isinstance(value, bytes) else value
    text = text.split(MARKER_TASK_SEPARATOR, 1)[0]
    return text if text.startswith("key_") else None


def marker_task(value: str | bytes | None) -> str | None:
    """The task a request was a step of, from its seen marker (None: no task, or a marker older than tasks)."""
    if value is None:
        return None
    text = value.decode() if isinstance(value, bytes) else value
    _, sep, task = text.partition(MARKER_TASK_SEPARATOR)
    return task if sep and task else None


def task_step(record: Record, tokens: tuple[int, int, int, int] | None = None) -> dict[str, Any] | None:
    """What one request adds to its task, for the write script (None: it is not a step of a task).

    Tokens are summed over billed attempts and the cost is the record's (every billed attempt): what was paid.
    `tokens`: the record's `billed_tokens`, when the caller has them already.
    """
    if not record.task_id:
        return None
    prompt, cached, completion, reasoning = billed_tokens(record) if tokens is None else tokens
    tiers: list[str] = []
    for attempt in record.attempts:
        if attempt.tier not in tiers:
            tiers.append(attempt.tier)
    task_class = record.task_class or (record.label if record.label in ("agentic", "single_turn") else "single_turn")
    return {
        "m": task_member(record.key_id, record.task_id),
        "id": record.task_id,
        "k": record.key_id or "-",
        "n": record.task_step,
        "s": record.started_at,
        "e": record.ended_at or record.started_at,
        "a": len(record.attempts),
        "c": record.cost_usd,
        "p": prompt,
        "ca": cached,
        "co": completion,
        "r": reasoning,
        "tiers": tiers,
        "cl": task_class,
        "cr": record.task_class_reason or "",
        "arm": record.routed_tier or record.final_tier or "",
        "ex": int(record.explored),
        "pin": int(record.pinned),
        "st": record.status,
        "o": str(record.outcome),
        "dg": int(record.degraded_reason is not None),
        "ac": record.answer_calls or "",
        "x": int(record.task_end),
    }


class Ledger:
    """Takes finished records without waiting and writes them to Redis, or to disk until Redis is back.

    Owns a background task between `start()` and `aclose()`. The caller owns `store` and closes it
    after `aclose()`. `submit` must be called from the event loop's thread.
    """

    def __init__(
        self,
        store: Store,
        spool_dir: str = "var/spool",
        *,
        prefix: str = DEFAULT_PREFIX,
        retention: int = DEFAULT_RETENTION,
        rollup_ttl_s: int = DEFAULT_ROLLUP_TTL_S,
        seen_ttl_s: int = DEFAULT_SEEN_TTL_S,
        batch_size: int = 32,
        replay_batch_size: int = 256,
        flush_interval_s: float = 0.05,
        retry_interval_s: float = 1.0,
        close_timeout_s: float = 5.0,
        on_spool_depth: Callable[[int], None] | None = None,
        on_write_error: Callable[[], None] | None = None,
        on_written: Callable[[int], None] | None = None,
        on_dropped: Callable[[str, int], None] | None = None,
        max_queue: int = 100_000,
        task_idle_s: float = 300.0,
        task_grace_s: float = 5.0,
        spool_max_bytes: int | None = None,
        reserve_bytes: int = 0,
    ) -> None:
        self.store = store
        # A step of a task rescores it in the open index: due at its last step's end + idle, or grace after an
        # explicit end (metering/tasks.py closes it).
        self.task_idle_s = task_idle_s
        self.task_grace_s = task_grace_s
        self.keys = Keys(prefix)
        self.spool = Spool(spool_dir, max_bytes=spool_max_bytes)
        # While Redis is down, new requests are admitted only while the spool has this much room left beyond the
        # records queued in memory: what the requests already admitted will need. Read on the request path
        # (`accepting`): a few attribute reads while Redis takes records.
        self.reserve_bytes = reserve_bytes
        self._room = 0  # the spool's room when the writer last looked (after a step, after each append)
        self._line_bytes = 2048  # a record's size on disk, from the last batch serialised
        self._placing = 0  # records taken from the queue by the writer and not yet in Redis, the spool or back
        self._said_accepting = True  # what the log last said, so a change is said once
        self.retention = retention
        self.rollup_ttl_s = rollup_ttl_s
        self.seen_ttl_s = seen_ttl_s
        # Live batches stay small: at saturation a 256-record batch (one ~300 KB script call, built and
        # packed on the event loop, then a multi-ms Lua run) put 1.7-2.4 ms on the proxy's p99 at
        # concurrency 10 against 32-record batches, at equal throughput (bench: A/B turns, 8 trials).
        # A spool replay is a backlog, off the request path: it moves in larger batches.
        self.batch_size = batch_size
        self.replay_batch_size = replay_batch_size
        self.flush_interval_s = flush_interval_s
        self.retry_interval_s = retry_interval_s
        self.close_timeout_s = close_timeout_s
        self.on_spool_depth = on_spool_depth
        self.on_write_error = on_write_error
        self.on_written = on_written
        self.on_dropped = on_dropped
        # Records held in memory while neither Redis nor the spool disk takes them; beyond this, new ones are
        # dropped and counted (routetax_ledger_records_dropped_total) rather than growing until the OOM killer.
        self.max_queue = max_queue
        self.dropped = 0  # records lost: memory queue full, unwritable at shutdown, unserialisable
        self.dropped_by_reason: dict[str, int] = {}
        self.write_errors = 0  # batches Redis refused or never answered
        self.written = 0  # records Redis accepted as new
        self.duplicates = 0  # records Redis already held (replays, double submits)
        self._queue: deque[Queued] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._next_replay = 0.0
        self._redis_down = False
        self._disk_retry_at = 0.0  # after the spool disk refused a write, it is not retried before this
        self._held = False  # the last batch went nowhere (Redis down, the disk refusing): it waits in memory
        self._log = RateLimitedLog(log, burst=1)  # a repeated problem: once every 10 s, with its count
        self._spooled = 0  # records spooled since Redis last took them all: said when the spool is replayed
        self._replayed = 0
        self._sha: str | None = None

    # -- the request path ------------------------------------------------------------------

    def submit(self, record: Record) -> None:
        """Queue a finished record, its JSON and script arguments made now (`Queued`). Never blocks, awaits or
        raises: the response must not wait on it. The record must not change after this."""
        if len(self._queue) >= self.max_queue:
            self._drop("memory_full", 1)
            return
        try:
            line = orjson.dumps(record)
            keys, args = self._script_args(record, line)
        except Exception:
            log.exception("ledger cannot serialise record %s; dropped", getattr(record, "request_id", "?"))
            self._drop("unserialisable", 1)
            return
        self._queue.append(Queued(line, record, keys, args))
        if len(self._queue) >= self.batch_size:
            self._wake.set()

    @property
    def accepting(self) -> bool:
        """False: a new request's record would have nowhere to go (Redis down, the spool without its reserve)."""
        if not self._redis_down and not self._held and not self.spool.pending:
            return True
        unplaced = (len(self._queue) + self._placing) * self._line_bytes
        return not self._held and self._room - unplaced >= self.reserve_bytes

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def spool_depth(self) -> int:
        """Records waiting on disk for Redis."""
        return self.spool.depth

    # queue_depth and drain() are read by the tests only (the product flushes with aclose()); they stay in
    # the class because they read the writer's own state (its queue, and `_busy` mid-batch), which a helper
    # outside it would have to reach into.
    @property
    def queue_depth(self) -> int:
        """Records waiting in memory for the next batch."""
        return len(self._queue)

    async def start(self) -> None:
        """Open the spool (replaying anything a previous process left) and start the writer."""
        self.spool.open()
        self._room = self.spool.room()
        self._report_depth()
        self._task = asyncio.create_task(self._run(), name="routetax-ledger")

    async def aclose(self) -> None:
        """Stop the writer and flush every queued record: to Redis if it answers, else to the spool.

        What neither takes before `close_timeout_s` (Redis down and the disk full) is counted as dropped
        and logged once; shutdown itself always completes.
        """
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        deadline = time.monotonic() + self.close_timeout_s
        if self.spool.pending:
            try:
                await asyncio.wait_for(self._replay(max_batches=None), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                log.warning("ledger: spool not fully replayed before shutdown; it will be at next start")
        try_redis = True  # once more, even if Redis was down: it may be back
        while self._queue:
            batch = self._take()
            if try_redis and not self.spool.pending and time.monotonic() < deadline:
                try:
                    await self._write_batch(batch)
                    continue
                except Exception as exc:
                    self._failed(exc)
                    try_redis = False
            if not await self._to_spool([queued.line for queued in batch], force=True):
                self._drop("shutdown", len(batch))
        self._log.flush()
        self._say_losses()
        self.spool.close()

    def _say_losses(self) -> None:
        """The run's last word on records: exactly how many were lost (by reason), and how many wait on disk."""
        waiting = f"{self.spool.depth} wait in the spool for Redis (replayed at next start)"
        if self.dropped:
            reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.dropped_by_reason.items()))
            log.error("ledger: %d record(s) lost in this run (%s); %s", self.dropped, reasons, waiting)
        elif self.spool.pending:
            log.warning("ledger: no record lost in this run; %s", waiting)
        else:
            log.info("ledger: no record lost in this run; all written to Redis")

    async def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until nothing is queued or spooled (True), or `timeout_s` passes (False)."""
        deadline = time.monotonic() + timeout_s
        while self._queue or self.spool.pending or self._busy:
            if time.monotonic() > deadline:
                return False
            self._wake.set()
            await asyncio.sleep(0.01)
        return True

    # -- the writer ------------------------------------------------------------------------

    _busy = False  # a batch is being written: drain() waits for it

    async def _run(self) -> None:
        while not self._closing:
            if len(self._queue) < self.batch_size:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.flush_interval_s)
                except TimeoutError:
                    pass
            self._wake.clear()
            if self._closing:
                break
            self._busy = True
            try:
                progressed = await self._step()
            except Exception:  # the writer must survive anything; records stay queued or spooled
                self._log.exception("ledger writer step failed")
                progressed = False
            finally:
                self._busy = False
                self._refresh_accepting()
            if not progressed:  # nothing takes records right now: wait instead of spinning on the queue
                await asyncio.sleep(self.flush_interval_s)

    async def _step(self) -> bool:
        """Replay the spool when due, then place one batch: Redis, else the spool, else back in memory.

        Returns False when the batch could go nowhere (Redis down and the disk refusing), so the loop waits.
        The spool is replayed before anything new is placed whatever happened to the disk, so a full disk
        never keeps records already on it from reaching Redis when Redis returns.
        """
        now = time.monotonic()
        if self.spool.pending and now >= self._next_replay:
            await self._replay(max_batches=16)
        if not self._queue:
            self._held = False
            if self._redis_down and not self.spool.pending and now >= self._next_replay:
                await self._probe()  # refusing with nothing to write or replay: only a probe can see Redis return
            return True
        batch = self._take()
        self._placing = len(batch)  # still the reserve's business while the batch is on its way
        try:
            if not self.spool.pending and (not self._redis_down or now >= self._next_replay):
                try:
                    await self._write_batch(batch)
                    self._redis_down = self._held = False
                    return True
                except Exception as exc:
                    self._failed(exc)
            if await self._to_spool([queued.line for queued in batch]):  # behind what already waits: in order
                self._held = False
                return True
            self._queue.extendleft(reversed(batch))  # held, in order, until one takes it
            self._held = True
            return False
        finally:
            self._placing = 0

    async def _probe(self) -> None:
        try:
            await self.store.ping()
        except Exception:
            self._next_replay = time.monotonic() + self.retry_interval_s
            return
        log.warning("ledger: Redis answers again")
        self._redis_down = False

    def _refresh_accepting(self) -> None:
        """Look at the spool's room again, and say when admission changes (the request path reads `accepting`)."""
        self._room = self.spool.room()
        accepting = self.accepting
        if accepting != self._said_accepting:
            if accepting:
                log.warning("ledger: records can be written again; accepting new requests")
            else:
                log.error(
                    "ledger: neither Redis nor the spool (%d bytes of room, %d reserved) can take more records; "
                    "refusing new requests (503 ledger_unavailable) until one can",
                    max(self._room, 0),
                    self.reserve_bytes,
                )
        self._said_accepting = accepting

    def _take(self) -> list[Queued]:
        """The next batch (at most `batch_size` records), ready to write."""
        queue = self._queue
        batch = [queue.popleft() for _ in range(min(self.batch_size, len(queue)))]
        if batch:
            self._line_bytes = sum(len(queued.line) for queued in batch) // len(batch) + 1
        return batch

    async def _to_spool(self, lines: list[bytes], force: bool = False) -> bool:
        """Append to the spool; False (logged, rate-limited) when the disk refuses — the caller keeps the lines."""
        if not lines:
            return True
        if not force and time.monotonic() < self._disk_retry_at:
            return False
        try:
            await self.spool.append(lines)
        except OSError as exc:
            self._disk_retry_at = time.monotonic() + self.retry_interval_s
            self._log.warning(
                "ledger: the spool disk refused %d record(s) (%s); holding up to %d records in memory",
                len(lines),
                exc.strerror or exc,
                self.max_queue,
            )
            return False
        self._spooled += len(lines)
        self._room = self.spool.room()  # before the caller stops counting these lines as being placed
        self._report_depth()
        return True

    def _drop(self, reason: str, count: int) -> None:
        self.dropped += count
        self.dropped_by_reason[reason] = self.dropped_by_reason.get(reason, 0) + count
        self._log.error("ledger: %d record(s) dropped (%s): Redis and the spool disk both refused them", count, reason)
        if self.on_dropped is not None:
            try:
                self.on_dropped(reason, count)
            except Exception:
                log.exception("on_dropped callback failed")

    async def _replay(self, max_batches: int | None) -> None:
        try:
            sent = await self.spool.replay(self._write, self.replay_batch_size, max_batches=max_batches)
        except Exception as exc:
            self._failed(exc)
            return
        finally:
            self._report_depth()
        self._next_replay = 0.0
        self._replayed += sent
        if sent and not self.spool.pending:
            replayed, spooled = self._replayed, self._spooled
            log.warning(
                "ledger: Redis is back; spool replayed: %d record(s)",
                replayed,
                extra={"event": "spool_replayed", "replayed": replayed, "spooled_in_this_outage": spooled},
            )
            self._replayed = self._spooled = 0
        self._redis_down = False

    def _failed(self, exc: BaseException) -> None:
        self.write_errors += 1
        self._next_replay = time.monotonic() + self.retry_interval_s
        if not self._redis_down:
            log.warning(
                "ledger: Redis write failed (%s: %s); spooling to disk",
                type(exc).__name__,
                exc,
                extra={"event": "spool_started", "exc_type": type(exc).__name__},
            )
        self._redis_down = True
        if self.on_write_error is not None:
            try:
                self.on_write_error()
            except Exception:
                log.exception("on_write_error callback failed")

    def _report_depth(self) -> None:
        if self.on_spool_depth is not None:
            try:
                self.on_spool_depth(self.spool.depth)
            except Exception:
                log.exception("on_spool_depth callback failed")

    async def _write(self, lines: list[bytes]) -> None:
        """Write spooled lines (replay): parsed back into records, then written like a live batch."""
        batch: list[Queued] = []
        for index, line in enumerate(lines, 1):
            try:
                record = Record.from_dict(orjson.loads(line))
                batch.append(Queued(line, record, *self._script_args(record, line)))
            except Exception:  # a torn spool line or a foreign shape: it can never be written
                log.warning("ledger skipping an unreadable record line")
            if index % _YIELD_EVERY == 0:  # a replay is a backlog of hundreds: requests are served in between
                await asyncio.sleep(0)
        await self._write_batch(batch)

    async def _write_batch(self, batch: list[Queued]) -> None:
        """Write a batch in one script call (one round trip, atomic); raises if Redis did not take it.

        A failure that may have landed anyway (a timeout) is spooled and replayed like any other:
        the per-record marker keeps the records that did land from counting twice.
        """
        if not batch:
            return
        keys: list[str] = [self.keys.records, self.keys.tasks_open]
        args: list[str | bytes] = [
            str(self.seen_ttl_s),
            str(self.retention),
            str(self.rollup_ttl_s),
            repr(float(self.task_idle_s)),
            repr(float(self.task_grace_s)),
        ]
        for queued in batch:
            keys += queued.keys
            args += queued.args
        count = len(batch)
        if self._sha is None:
            self._sha = await self.store.script_load(_WRITE_BATCH)
        try:
            new = int(await self.store.evalsha(self._sha, len(keys), *keys, *args))
        except NoScriptError:  # a restarted Redis (or another cluster node) lacks the script: send it whole
            new = int(await self.store.eval(_WRITE_BATCH, len(keys), *keys, *args))
        self.written += new
        self.duplicates += count - new
        if new and self.on_written is not None:
            try:
                self.on_written(new)
            except Exception:
                log.exception("on_written callback failed")

    def _script_args(self, record: Record, line: bytes) -> tuple[list[str], list[bytes]]:
        """A record's part of the write script's KEYS and ARGV (see the script's comment)."""
        hour = hour_of(record.started_at or record.ended_at or time.time())
        tokens = billed_tokens(record)  # counted once for the rollups and the task step
        hour_fields, key_fields = rollup_increments(record, tokens)
        keys = [self.keys.seen(record.request_id), self.keys.hour(hour)]
        meta: dict[str, Any] = {"m": marker_value(record), "h": hour_fields}
        if record.key_id:
            keys.append(self.keys.key_hour(record.key_id, hour))
            meta["k"] = key_fields
        step = task_step(record, tokens)
        if step is not None:
            keys.append(self.keys.task(task_member(record.key_id, record.task_id or "")))
            meta["t"] = step
        return keys, [line, orjson.dumps(meta)]


# -- reading back ----------------------------------------------------------------------------


async def read_records(
    store: Store,
    since: float | None = None,
    until: float | None = None,
    *,
    prefix: str = DEFAULT_PREFIX,
    chunk: int = 1000,
) -> AsyncIterator[Record]:
    """Records with `since <= started_at < until`, in the order they reached Redis.

    A record reaches the stream after it started (and, replayed from the spool, possibly much
    later), so stream ids only bound the scan from below — with a margin for clock skew
    between the proxies and Redis. Every record read is filtered on its own `started_at`.
    """
    start = "-" if since is None else f"{max(0, int((since - CLOCK_SKEW_S) * 1000))}-0"
    async for raw in stream_field(store, Keys(prefix).records, "r", start, chunk):
        record = Record.from_dict(orjson.loads(raw))
        if since is not None and record.started_at < since:
            continue
        if until is not None and record.started_at >= until:
            continue
        yield record


async def stream_field(
    store: Store, stream: str, field: str, start: str = "-", chunk: int = 1000
) -> AsyncIterator[Any]:
    """The `field` of every entry of `stream` from `start` on (entries without it skipped), `chunk` at a time."""
    while True:
        entries = await store.xrange(stream, min=start, max="+", count=chunk)
        if not entries:
            return
        for _entry_id, fields in entries:
            raw = fields.get(field.encode(), fields.get(field))
            if raw is not None:
                yield raw
        last = entries[-1][0]
        start = "(" + (last.decode() if isinstance(last, bytes) else last)
        if len(entries) < chunk:
            return
