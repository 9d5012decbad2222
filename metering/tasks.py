"""Task records: one per task (an agent run or a conversation), built from its requests' records in the ledger.

The ledger's write script folds every new request record that carries a `task_id` into an open task's
hash in Redis (`<prefix>:{ledger}:task:<key>:<task_id>`, see metering/ledger.py) and scores the task in an
index of open tasks by when it should close: its last step's end + `idle_s`, or `grace_s` after an
explicit end (the client's end header, or feedback). Because that state lives in Redis, not in a process,
a task whose process was killed is closed by whichever process looks next.

`TaskBook` closes due tasks in a background loop that every process runs: a task is claimed atomically (a
lease, so a process killed mid-close leaves it to the next), turned into a `TaskRecord` with its detected
outcome, and written to the tasks stream — unless a request of the task landed meanwhile, in which case it
stays open. Then the metrics are bumped and the closed listeners (the judge) are called.

The outcome is never success by default. Its sources, in precedence when read: the application's
`feedback` > a `detected` failure > the `judge` > unknown. Feedback and judgements are kept beside the
task (not only on its record), so one that arrives after the record was written still wins at read time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from metering.ledger import DEFAULT_PREFIX, DEFAULT_SEEN_TTL_S, Keys, stream_field, task_member
from metering.logs.limiter import RateLimitedLog
from metering.store import Store

log = logging.getLogger("routetax.tasks")

REASON_LIMIT = 200
DEFAULT_GRACE_S = 5.0  # after an explicit end: steps still in flight land in the task before it closes
CLAIM_LEASE_S = 30.0  # a claimed task not written by then (its closer died) is claimed again
CLAIM_BATCH = 100
STOP_TIMEOUT_S = 5.0
VERDICT_TTL_S = 90 * 24 * 3600  # feedback and judgements live as long as the rollups


class TaskOutcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    UNKNOWN = "unknown"


class OutcomeSource(StrEnum):
    """Who said how a task ended, in precedence order when read."""

    FEEDBACK = "feedback"  # the application (`POST /v1/feedback`)
    DETECTED = "detected"  # failure only: a rule on the task's own requests
    JUDGE = "judge"  # the optional judge tier's grade


class TaskEndedBy(StrEnum):
    IDLE = "idle"  # no step for `tasks.idle_s`
    CLIENT = "client"  # the client's end header on a request
    FEEDBACK = "feedback"  # feedback named the task


class DetectedReason(StrEnum):
    """Why a task was detected as failed, in the order the rules are tried."""

    LAST_REQUEST_FAILED = "last_request_failed"  # its last request failed (HTTP status >= 400, or outcome failed)
    LAST_REQUEST_DEGRADED = "last_request_degraded"  # its last answer was degraded
    MAX_STEPS = "max_steps"  # it reached `tasks.max_steps`
    REPEATED_CALLS = "repeated_calls"  # `tasks.repeated_calls` identical tool calls in a row
    ABANDONED = "abandoned"  # went idle mid-loop: >= 2 steps and the last answer asked for a tool call


@dataclass(frozen=True, slots=True)
class TaskSettings:
    """Metering's view of `tasks` in the configuration (the router builds it)."""

    enabled: bool = True
    idle_s: float = 300.0
    max_steps: int = 100
    repeated_calls: int = 4
    grace_s: float = DEFAULT_GRACE_S


@dataclass(slots=True)
class TaskRecord:
    """One task, as written to the tasks stream when it closes (and resolved again when read)."""

    task_id: str
    key_id: str | None = None
    task_class: str = "single_turn"  # agentic if any step was
    task_class_reason: str | None = None
    arm: str | None = None  # the tier its first step was sent to (routing or exploration)
    explored: bool = False
    pinned: bool = False
    steps: int = 0
    requests: int = 0
    attempts: int = 0
    tiers: list[str] = field(default_factory=list)  # every tier an attempt ran on, in first-use order
    cost_usd: float = 0.0  # every billed attempt of every request
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    started_at: float = 0.0
    ended_at: float = 0.0  # the end of its last step
    ended_by: TaskEndedBy = TaskEndedBy.IDLE
    outcome: TaskOutcome = TaskOutcome.UNKNOWN
    outcome_source: OutcomeSource | None = None
    outcome_reason: str | None = None
    detected_reason: DetectedReason | None = None  # kept apart: feedback read later may override the outcome
    last_status: int = 0
    last_outcome: str | None = None
    closed_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskRecord:
        data = {k: v for k, v in data.items() if k in _FIELDS}
        data["ended_by"] = TaskEndedBy(data.get("ended_by", TaskEndedBy.IDLE))
        data["outcome"] = TaskOutcome(data.get("outcome", TaskOutcome.UNKNOWN))
        for name, kind in (("outcome_source", OutcomeSource), ("detected_reason", DetectedReason)):
            if data.get(name) is not None:
                data[name] = kind(data[name])
        return cls(**data)


_FIELDS = set(TaskRecord.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A word on a task's outcome from the application (feedback) or the judge."""

    success: bool
    reason: str | None = None


def resolve(record: TaskRecord, feedback: Verdict | None, judgement: Verdict | None) -> TaskRecord:
    """Set the record's outcome by precedence: feedback > detected failure > judge > unknown (never success)."""
    if feedback is not None:
        outcome, source, reason = _word(feedback), OutcomeSource.FEEDBACK, feedback.reason
    elif record.detected_reason is not None:
        outcome, source, reason = TaskOutcome.FAILURE, OutcomeSource.DETECTED, str(record.detected_reason)
    elif judgement is not None:
        outcome, source, reason = _word(judgement), OutcomeSource.JUDGE, judgement.reason
    else:
        outcome, source, reason = TaskOutcome.UNKNOWN, None, None
    record.outcome, record.outcome_source, record.outcome_reason = outcome, source, reason
    return record


def _word(verdict: Verdict) -> TaskOutcome:
    return TaskOutcome.SUCCESS if verdict.success else TaskOutcome.FAILURE


def detect(state: dict[str, Any], ended_by: TaskEndedBy, settings: TaskSettings) -> DetectedReason | None:
    """The first failure rule the task's aggregated state meets, or None (which is not success)."""
    get = state.get
    status = int(get("last_status") or 0)
    last_outcome = get("last_outcome") or ""
    steps = int(get("steps") or 0)
    if status >= 400 or last_outcome == "failed":
        return DetectedReason.LAST_REQUEST_FAILED
    if last_outcome == "degraded" or get("last_degraded") == 1:
        return DetectedReason.LAST_REQUEST_DEGRADED
    if steps >= settings.max_steps:
        return DetectedReason.MAX_STEPS
    if int(get("max_run") or 0) >= settings.repeated_calls:
        return DetectedReason.REPEATED_CALLS
    if ended_by is TaskEndedBy.IDLE and steps >= 2 and get("last_calls"):
        return DetectedReason.ABANDONED
    return None


# How the write script spells a task's end, to its member: a dict lookup, where calling the enum (`TaskEndedBy(x)`)
# goes through the enum machinery's Python-level `__call__` and `__new__` on every task closed.
_ENDED_BY = {member.value: member for member in TaskEndedBy}


def record_of(state: dict[str, Any], settings: TaskSettings, now: float) -> TaskRecord:
    """The task record of an open task's aggregated state (the JSON the ledger's write script keeps).

    Runs once for every task closed — for one-call traffic, once for every request — so each field is read with
    one `get`, and the record is built by position, in `TaskRecord`'s field order (keywords cost a third more:
    the interpreter matches each by name; tests/test_task_records.py checks every field lands where it belongs).
    """
    get = state.get
    ended_by = _ENDED_BY[get("ended_by") or "idle"]
    key_id = get("key_id") or None
    tiers = get("tiers")
    return TaskRecord(
        get("task_id", ""),  # task_id
        None if key_id == "-" else key_id,  # key_id
        get("class") or "single_turn",  # task_class
        get("class_reason") or None,  # task_class_reason
        get("arm") or None,  # arm
        get("explored") == 1,  # explored
        get("pinned") == 1,  # pinned
        int(get("steps") or 0),  # steps
        int(get("requests") or 0),  # requests
        int(get("attempts") or 0),  # attempts
        [t for t in tiers.split(",") if t] if tiers else [],  # tiers
        float(get("cost_usd") or 0.0),  # cost_usd
        int(get("prompt_tokens") or 0),  # prompt_tokens
        int(get("cached_tokens") or 0),  # cached_tokens
        int(get("completion_tokens") or 0),  # completion_tokens
        int(get("reasoning_tokens") or 0),  # reasoning_tokens
        float(get("started_at") or 0.0),  # started_at
        float(get("last_end") or 0.0),  # ended_at
        ended_by,  # ended_by
        _UNKNOWN,  # outcome: `resolve` decides it
        None,  # outcome_source
        None,  # outcome_reason
        detect(state, ended_by, settings),  # detected_reason
        int(get("last_status") or 0),  # last_status
        get("last_outcome") or None,  # last_outcome
        now,  # closed_at
    )


_UNKNOWN = TaskOutcome.UNKNOWN


__all__ = ["TaskBook", "TaskRecord", "TaskSettings", "resolve", "task_member"]


class TaskKeys:
    """Key names of the task side of the ledger (the `{ledger}` hash tag: one cluster slot)."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        keys = Keys(prefix)
        self.open = keys.tasks_open  # sorted set: member -> when it is due to close (unix s)
        self.stream = f"{keys.base}:tasks"  # stream of closed task records, field `t` = JSON
        self.task = keys.task  # an open (or recently closed) task's aggregated hash

    # Beside the task's own key (the claim script reads them by these suffixes)
    def feedback(self, member: str) -> str:
        return f"{self.task(member)}:feedback"

    def judgement(self, member: str) -> str:
        return f"{self.task(member)}:judge"


# Claim due tasks: every member of the open index due by ARGV[1] (at most ARGV[3]) is leased until ARGV[2]
# and returned with its hash, so two processes never close one task at once. A task with no request yet
# (feedback named it before its first record landed) waits; past ARGV[4] s after that it is dropped.
# Each claimed task comes back as four values: its member, its state, and the feedback and the judgement kept
# beside it (nil where there is none) — read in the same call, so closing a batch is two round trips, not three,
# and the proxy builds no key names for it (closing runs once for every task: every request of one-call traffic).
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, member in ipairs(due) do
  local key = ARGV[5] .. member
  local raw = redis.call('GET', key)
  if not raw then
    redis.call('ZREM', KEYS[1], member)
  else
    local state = cjson.decode(raw)
    if (state.requests or 0) == 0 then
      if (state.end_at or 0) + tonumber(ARGV[4]) < tonumber(ARGV[1]) then
        redis.call('ZREM', KEYS[1], member)
        redis.call('DEL', key)
      else
        redis.call('ZADD', KEYS[1], ARGV[2], member)
      end
    else
      redis.call('ZADD', KEYS[1], ARGV[2], member)
      out[#out + 1] = member
      out[#out + 1] = raw
      out[#out + 1] = redis.call('GET', key .. ':feedback')
      out[#out + 1] = redis.call('GET', key .. ':judge')
    end
  end
end
return out
"""

# Write claimed tasks. ARGV: stream maxlen, task key prefix, closed ttl, then per task 3 (member, the version
# it was claimed at, its record's JSON). A task a request reached since its claim (version moved) is left
# open, rescored by that request. Returns per task two values: how many times it has now been closed (0:
# left open; more than 1: a late record, a spool replay, reopened it and this record supersedes the old one)
# and the cost its previous record carried.
_FINISH = """
local out = {}
for a = 4, #ARGV, 3 do
  local key = ARGV[2] .. ARGV[a]
  local raw = redis.call('GET', key)
  local state = raw and cjson.decode(raw) or {}
  if tostring(state.v) == ARGV[a + 1] then
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 't', ARGV[a + 2])
    redis.call('ZREM', KEYS[1], ARGV[a])
    local previous = state.closed_cost or 0
    state.closed, state.closed_cost = 1, state.cost_usd
    state.closes = (state.closes or 0) + 1
    redis.call('SET', key, cjson.encode(state), 'EX', ARGV[3])
    out[#out + 1] = state.closes
    out[#out + 1] = string.format('%.17g', previous)
  else
    out[#out + 1] = 0
    out[#out + 1] = '0'
  end
end
return out
"""

# Feedback ends the task: an open task closes `grace` s from now (unless the client ended it already);
# one not aggregated yet is created empty so its records land in it; a closed one is left (the word is
# kept beside it). KEYS: open index, task state, feedback key. ARGV: member, now, grace, word, key id,
# task id, word ttl.
_FEEDBACK = """
redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[7])
local raw = redis.call('GET', KEYS[2])
local state = raw and cjson.decode(raw) or {key_id = ARGV[5], task_id = ARGV[6]}
if state.closed == 1 then return 0 end
if state.ended_by == nil then
  state.ended_by, state.end_at = 'feedback', tonumber(ARGV[2])
  state.v = (state.v or 0) + 1
  redis.call('SET', KEYS[2], cjson.encode(state), 'KEEPTTL')
  redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
end
return 1
"""

ClosedListener = Callable[[list[TaskRecord]], None]


class TaskBook:
    """Closes tasks, takes feedback and judgements on them, and reads them back.

    Owns a background loop between `start()` and `aclose()` (every process runs one; claims make that
    safe). The caller owns `store`.
    """

    def __init__(
        self,
        store: Store,
        settings: TaskSettings | None = None,
        *,
        prefix: str = DEFAULT_PREFIX,
        on_closed: Callable[[TaskRecord, float | None], None] | None = None,
        interval_s: float = 1.0,
        retention: int = 1_000_000,
        closed_ttl_s: int = DEFAULT_SEEN_TTL_S,
    ) -> None:
        self.store = store
        self.settings = settings or TaskSettings()
        self.keys = TaskKeys(prefix)
        # metrics: (record, None on its first close, else the cost its superseded record carried)
        self.on_closed = on_closed
        self.interval_s = interval_s
        self.retention = retention
        self.closed_ttl_s = closed_ttl_s
        self._listeners: list[ClosedListener] = []
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._log = RateLimitedLog(log, burst=1)  # a store that is down is said once every 10 s, not every sweep
        self._base = self.keys.task("")

    # -- the contract ----------------------------------------------------------------------------

    def add_closed_listener(self, fn: ClosedListener) -> None:
        """`fn(records)` is called, in the process that closed them, with the tasks each sweep closed."""
        self._listeners.append(fn)

    async def record_judgement(self, key_id: str | None, task_id: str, success: bool, reason: str | None) -> None:
        """The judge's grade: used only when the task has no feedback and no detected failure."""
        member = task_member(key_id, task_id)
        await self.store.set(self.keys.judgement(member), _verdict_text(success, reason), ex=VERDICT_TTL_S)

    async def feedback(self, key_id: str | None, task_id: str, success: bool, reason: str | None) -> None:
        """The application's word (it overrides detected failures and the judge); it also ends the task."""
        member = task_member(key_id, task_id)
        await self.store.eval(
            _FEEDBACK,
            3,
            self.keys.open,
            self.keys.task(member),
            self.keys.feedback(member),
            member,
            repr(time.time()),
            repr(self.settings.grace_s),
            _verdict_text(success, reason),
            key_id or "-",
            task_id,
            str(VERDICT_TTL_S),
        )

    async def known(self, key_id: str | None, task_id: str) -> bool:
        """Is this key's task in the ledger (open, or closed within `closed_ttl_s`)?"""
        return bool(await self.store.exists(self.keys.task(task_member(key_id, task_id))))

    # -- closing ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="routetax-tasks")

    async def aclose(self) -> None:
        """Stop the loop. Open tasks stay open in the store: the next process closes them when they are due.

        The loop is asked to stop rather than cancelled: a sweep in flight finishes (a cancellation inside a
        store call can be lost, and a claim half-done would wait out its lease).
        """
        if self._task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT_S)
        except TimeoutError:
            self._task.cancel()
        self._task = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while len(await self.close_due()) >= CLAIM_BATCH and not self._stop.is_set():
                    pass
            except Exception as exc:  # the store is down: the tasks wait in it
                self._log.warning("tasks: could not close due tasks (%s: %s)", type(exc).__name__, exc)
            try:
                await asyncio.wait_for(self._stop.wait(), self.interval_s)
            except TimeoutError:
                pass

    async def close_due(self, now: float | None = None) -> list[TaskRecord]:
        """Close every task due by `now` (at most one claim's worth); returns the records written."""
        now = time.time() if now is None else now
        claimed = await self.store.eval(
            _CLAIM,
            1,
            self.keys.open,
            repr(now),
            repr(now + CLAIM_LEASE_S),
            str(CLAIM_BATCH),
            repr(self.settings.idle_s),
            self._base,
        )
        if not claimed:
            return []
        records: list[TaskRecord] = []
        args: list[str | bytes] = [str(self.retention), self._base, str(self.closed_ttl_s)]
        settings = self.settings
        for i in range(0, len(claimed), 4):
            state = orjson.loads(claimed[i + 1])
            record = resolve(record_of(state, settings, now), _verdict(claimed[i + 2]), _verdict(claimed[i + 3]))
            records.append(record)
            args += [claimed[i], str(state.get("v", 0)), orjson.dumps(record)]
        closes = await self.store.eval(_FINISH, 2, self.keys.open, self.keys.stream, *args)
        written: list[TaskRecord] = []
        for index, record in enumerate(records):
            times, previous_cost = int(closes[2 * index]), float(closes[2 * index + 1])  # float() reads bytes too
            if times == 0:
                continue
            written.append(record)
            if self.on_closed is not None:
                try:
                    self.on_closed(record, None if times == 1 else previous_cost)
                except Exception:
                    log.exception("tasks: on_closed failed")
        if written:
            for listener in self._listeners:
                try:
                    listener(written)
                except Exception:
                    log.exception("tasks: a closed listener failed")
        return written

    # -- reading ---------------------------------------------------------------------------------

    async def _verdicts(self, members: list[str]) -> tuple[dict[str, Verdict], dict[str, Verdict]]:
        if not members:
            return {}, {}
        keys = [self.keys.feedback(m) for m in members] + [self.keys.judgement(m) for m in members]
        values = await self.store.mget(keys)
        n = len(members)
        feedback = {m: v for m, raw in zip(members, values[:n], strict=True) if (v := _verdict(raw)) is not None}
        judged = {m: v for m, raw in zip(members, values[n:], strict=True) if (v := _verdict(raw)) is not None}
        return feedback, judged

    async def verdicts(self, key_id: str | None, task_id: str) -> tuple[Verdict | None, Verdict | None]:
        """The feedback and the judgement on one task (None where there is none)."""
        member = task_member(key_id, task_id)
        feedback, judged = await self._verdicts([member])
        return feedback.get(member), judged.get(member)

    async def read(
        self, since: float | None = None, until: float | None = None, *, chunk: int = 1000
    ) -> AsyncIterator[TaskRecord]:
        """Closed tasks that started in [since, until), each once (a reopened task's latest record), resolved
        with the feedback and judgements known now."""
        latest: dict[str, TaskRecord] = {}
        async for record in _stream(self.store, self.keys.stream, chunk):
            if since is not None and record.started_at < since:
                continue
            if until is not None and record.started_at >= until:
                continue
            member = task_member(record.key_id, record.task_id)
            latest.pop(member, None)  # re-insert: the order is that of each task's latest record
            latest[member] = record
        members = list(latest)
        for start in range(0, len(members), chunk):
            part = members[start : start + chunk]
            feedback, judged = await self._verdicts(part)
            for member in part:
                yield resolve(latest[member], feedback.get(member), judged.get(member))

    async def read_open(
        self, since: float | None = None, until: float | None = None, now: float | None = None
    ) -> list[TaskRecord]:
        """Tasks still open that started in [since, until), as they stand now (the report counts them too).

        Their outcome is what is known so far: feedback, else a detected failure, else unknown (the judge
        grades only ended tasks). A task not yet due to close is not `abandoned`: mid-loop, its last answer
        asking for a tool call is what a running agent looks like.
        """
        now = time.time() if now is None else now
        due = {_text(m): float(score) for m, score in await self.store.zrange(self.keys.open, 0, -1, withscores=True)}
        members = list(due)
        raws: list[Any] = []
        for start in range(0, len(members), CLAIM_BATCH * 10):  # one bounded MGET at a time
            raws += await self.store.mget([self.keys.task(m) for m in members[start : start + CLAIM_BATCH * 10]])
        found: dict[str, TaskRecord] = {}
        for member, raw in zip(members, raws, strict=True):
            if raw is None:
                continue
            state = orjson.loads(raw)
            if not int(state.get("requests") or 0):
                continue  # feedback named it before its first step landed
            record = record_of(state, self.settings, now)
            if since is not None and record.started_at < since or until is not None and record.started_at >= until:
                continue
            if record.detected_reason is DetectedReason.ABANDONED and due[member] > now:
                record.detected_reason = None
            found[member] = record
        listed = list(found)
        feedback: dict[str, Verdict] = {}
        for start in range(0, len(listed), CLAIM_BATCH * 10):
            feedback.update((await self._verdicts(listed[start : start + CLAIM_BATCH * 10]))[0])
        return [resolve(record, feedback.get(member), None) for member, record in found.items()]


async def _stream(store: Store, stream: str, chunk: int) -> AsyncIterator[TaskRecord]:
    async for raw in stream_field(store, stream, "t", chunk=chunk):
        yield TaskRecord.from_dict(orjson.loads(raw))


def _verdict_text(success: bool, reason: str | None) -> str:
    return ("1" if success else "0") + "|" + (reason or "")[:REASON_LIMIT]


def _verdict(raw: str | bytes | None) -> Verdict | None:
    if raw is None:
        return None
    text = _text(raw)
    word, _, reason = text.partition("|")
    return Verdict(word == "1", reason or None)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
