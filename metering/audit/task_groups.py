"""Logged requests grouped into tasks the way the proxy groups live ones (docs/tasks.md, docs/audit.md).

Each counted request is held as a row of numbers (its time, class, pricing mode, tokens and the task keys of
`metering.audit.task_keys`: about 130 bytes, in typed arrays). At the end the rows are put in time order — logs
are not in order across files (a row without a time keeps its place after the timed row read before it) — and
walked once, each request a step of the first task found, in the proxy's order:

1. a name: LiteLLM's `session_id`, `x-routetax-task` (`session`);
2. the Responses chain: `previous_response_id` names a response logged earlier, `conversation` a task
   (`response_chain`);
3. a continuation (`continuation`): the request's history extends an earlier request's history plus its logged
   answer — the longest such prefix wins — or, where that request's answer was not logged, its history alone;
4. else a task of its own (`single`, while no later step joins it).

As in the proxy, a continuation of a history two tasks share (identical first requests, and without logged
answers identical histories) goes to one nobody has continued yet, the latest first: the two stay two tasks. A
task is agentic when any of its steps is (the proxy routes every step from the first agentic one on as agentic;
the audit, which sees the whole task, counts the whole task so). Entries idle longer than the proxy's default
`tasks.idle_s` (300 s of log time) are not continued — the proxy would have ended that task — and each table
keeps at most the proxy's default `tasks.max_entries` (200,000) entries.

Memory: `MAX_HELD` rows (≈ 130 MB); requests past it are counted per request as always but not grouped, and the
report says how many. The tables of the walk are bounded as above.
"""

from __future__ import annotations

import itertools
import math
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from metering.audit.task_keys import RUNS, TaskKeys

if TYPE_CHECKING:
    from metering.audit.formats import Observation

IDLE_S = 300.0  # the proxy's default `tasks.idle_s`: a task with no step for this long has ended
MAX_ENTRIES = 200_000  # the proxy's default `tasks.max_entries`, per table
SHARED = 16  # tasks kept per shared history (identical first requests of concurrent tasks), as the proxy keeps
MODES = ("standard", "batch", "flex", "priority")
AGENTIC_FLAG, LOGGED_FLAG = 1, 2


class Joined(StrEnum):
    """How a task's steps were found to be one task: the first link that joined them (a closed set)."""

    SESSION = "session"
    RESPONSE_CHAIN = "response_chain"
    CONTINUATION = "continuation"
    SINGLE = "single"


JOINED = tuple(Joined)


@dataclass(slots=True)
class Part:
    """Token sums of the requests of one (task class, request class, pricing mode)."""

    requests: int = 0
    logged: int = 0
    prompt: int = 0
    cached: int = 0
    completion: int = 0
    reasoning: int = 0
    estimated: int = 0
    estimated_prompt: float = 0.0  # tokenizer-counted, or scaled from the size by the sample's tokens per byte


@dataclass
class Grouping:
    """The tasks found: their count by class and by how they were joined, steps per task, tokens by task class."""

    tasks: int = 0
    agentic_tasks: int = 0
    joined: Counter[str] = field(default_factory=Counter)
    steps: list[int] = field(default_factory=list)  # steps of each task
    parts: dict[tuple[bool, bool, str], Part] = field(default_factory=dict)  # (task agentic, request agentic, mode)
    grouped: int = 0  # requests grouped
    answered: int = 0  # of them, with a logged answer (continuations of the rest are matched on the prefix alone)
    not_grouped: int = 0  # requests past MAX_HELD
    untimed: int = 0  # requests without a time (kept in reading order)
    reordered: int = 0  # requests read before a request logged earlier than them (the logs were out of order)


class TaskGroups:
    """Holds each counted request's row until `finish` groups them (see the module's docstring for the bound)."""

    MAX_HELD = 1_000_000

    def __init__(self) -> None:
        self.ts = array("d")
        self.flags = bytearray()  # AGENTIC_FLAG | LOGGED_FLAG
        self.mode = bytearray()  # index in MODES
        self.fmt = bytearray()  # index in self.formats
        self.formats: list[str] = []
        self.tokens = array("q")  # 4 per row: prompt (a sampled estimate, or -1), cached, completion, reasoning
        self.size = array("q")
        self.keys = array("q")  # KEY_WIDTH per row: the TaskKeys numbers
        self.skipped = 0

    def add(self, o: Observation) -> None:
        """Hold one counted request (called for every request the tally counts)."""
        if len(self.ts) >= self.MAX_HELD:
            self.skipped += 1
            return
        self.ts.append(math.nan if o.ts is None else o.ts)
        usage = o.usage
        self.flags.append(AGENTIC_FLAG * o.agentic | LOGGED_FLAG * (usage is not None))
        tier = o.service_tier
        self.mode.append(1 if o.batch else 2 if tier == "flex" else 3 if tier == "priority" else 0)
        if o.fmt not in self.formats:
            self.formats.append(o.fmt)
        self.fmt.append(self.formats.index(o.fmt))
        if usage is not None:
            self.tokens.extend(
                (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens, usage.reasoning_tokens)
            )
        else:
            estimate = o.prompt_estimate
            self.tokens.extend((-1 if estimate is None else estimate, 0, 0, 0))
        self.size.append(o.size)
        self.keys.extend(_row(o.task))

    def finish(self, tokens_per_byte: Callable[[str, bool], float]) -> Grouping:
        """Group the held rows into tasks and sum their tokens by task class; the rows are released."""
        n = len(self.ts)
        result = Grouping(grouped=n, not_grouped=self.skipped)
        order, times = _time_order(self.ts, result)
        result.answered = sum(1 for i in range(n) if self.keys[KEY_WIDTH * i + ANSWER])
        task_of, agentic, joined = _walk(order, times, self.keys, self.flags)
        self.keys = array("q")
        steps = [0] * len(agentic)
        for task in task_of:
            steps[task] += 1
        result.tasks = len(agentic)
        result.agentic_tasks = sum(agentic)
        result.steps = steps
        result.joined = Counter(JOINED[j].value for j in joined)
        parts = result.parts
        tokens = self.tokens
        for i in range(n):
            flags = self.flags[i]
            request_agentic = bool(flags & AGENTIC_FLAG)
            key = (bool(agentic[task_of[i]]), request_agentic, MODES[self.mode[i]])
            part = parts.get(key)
            if part is None:
                part = parts[key] = Part()
            part.requests += 1
            prompt, cached, completion, reasoning = tokens[4 * i : 4 * i + 4]
            if flags & LOGGED_FLAG:
                part.logged += 1
                part.prompt += prompt
                part.cached += cached
                part.completion += completion
                part.reasoning += reasoning
            else:
                part.estimated += 1
                part.estimated_prompt += (
                    prompt
                    if prompt >= 0
                    else self.size[i] * tokens_per_byte(self.formats[self.fmt[i]], request_agentic)
                )
        self.__init__()  # type: ignore[misc]  # release the rows
        return result


KEY_WIDTH = 6 + 2 * RUNS
NAME, PREVIOUS, CONVERSATION, RESPONSE, HISTORY, ANSWER, ENDS = 0, 1, 2, 3, 4, 5, 6
STARTS = ENDS + RUNS


def _row(keys: TaskKeys | None) -> list[int]:
    if keys is None:
        return [0] * KEY_WIDTH
    ends = list(keys.ends) + [0] * (RUNS - len(keys.ends))
    starts = list(keys.starts) + [0] * (RUNS - len(keys.starts))
    return [keys.name, keys.previous, keys.conversation, keys.response, keys.history, keys.answer, *ends, *starts]


def _time_order(ts: array, result: Grouping) -> tuple[list[int], list[float]]:
    """Row indices in time order, and each row's time (an untimed row: the time of the timed row read before it,
    -inf before any; so it keeps its place after that row)."""
    times: list[float] = []
    last = -math.inf
    latest = -math.inf
    for moment in ts:
        if math.isnan(moment):
            result.untimed += 1
        else:
            last = moment
            if moment < latest:
                result.reordered += 1
            latest = max(latest, moment)
        times.append(last)
    return sorted(range(len(times)), key=times.__getitem__), times  # stable: ties keep their reading order


class _Entry:
    """A task as of one of its steps (a table's value): its task, when, and how often it was continued."""

    __slots__ = ("at", "continued", "task")

    def __init__(self, task: int, at: float) -> None:
        self.task, self.at, self.continued = task, at, 0


def _alive(entry: _Entry | None, now: float) -> bool:
    return entry is not None and now - entry.at <= IDLE_S


def _pick(entries: list[_Entry] | None, now: float) -> _Entry | None:
    """The entry a continuation belongs to: one nobody continued yet, the latest first (identical histories of
    several tasks are shared out, never merged), else the latest."""
    if not entries:
        return None
    alive = [e for e in entries if _alive(e, now)]
    if not alive:
        return None
    entry = next((e for e in reversed(alive) if not e.continued), alive[-1])
    entry.continued += 1
    return entry


def _put(table: dict[int, _Entry], key: int, entry: _Entry) -> None:
    table.pop(key, None)
    table[key] = entry
    _bound(table)


def _put_shared(table: dict[int, list[_Entry]], key: int, entry: _Entry) -> None:
    entries = table.pop(key, None) or []
    entries = [e for e in entries if e.task != entry.task][-SHARED + 1 :]
    entries.append(entry)
    table[key] = entries
    _bound(table)


def _bound(table: dict[int, object]) -> None:
    """Past MAX_ENTRIES and a sixteenth, the oldest go back down to MAX_ENTRIES in one sweep (as the proxy does)."""
    if len(table) > MAX_ENTRIES + MAX_ENTRIES // 16:
        for old in list(itertools.islice(table, len(table) - MAX_ENTRIES)):
            del table[old]


def _walk(order: list[int], times: list[float], keys: array, flags: bytearray) -> tuple[array, bytearray, bytearray]:
    """Each row's task, each task's class (1: agentic) and how it was joined (index in JOINED)."""
    task_of = array("l", bytes(8 * len(order)))
    agentic = bytearray()
    joined = bytearray()
    names: dict[int, _Entry] = {}
    responses: dict[int, _Entry] = {}
    answers: dict[int, list[_Entry]] = {}
    histories: dict[int, list[_Entry]] = {}
    session, chain, continuation, single = (
        JOINED.index(j) for j in (Joined.SESSION, Joined.RESPONSE_CHAIN, Joined.CONTINUATION, Joined.SINGLE)
    )
    for i in order:
        now = times[i]
        row = keys[KEY_WIDTH * i : KEY_WIDTH * (i + 1)]
        name, previous, conversation = row[NAME], row[PREVIOUS], row[CONVERSATION]
        task, how = -1, single
        if name:
            found = names.get(name)
            task, how = (found.task, session) if _alive(found, now) else (-1, session)  # type: ignore[union-attr]
        elif previous or conversation:
            found = responses.get(previous) if previous else None
            if not _alive(found, now) and conversation:
                found = names.get(conversation)
            task, how = (found.task, chain) if _alive(found, now) else (-1, chain)  # type: ignore[union-attr]
            if task < 0 and not conversation:
                how = single  # a chain from a response the logs do not hold: a task of its own from here
        if task < 0:
            for k in range(RUNS):  # longest first: a run's end, then its start, then the run before
                entry = _pick(answers.get(row[ENDS + k]), now) if row[ENDS + k] else None
                if entry is None and row[STARTS + k]:
                    entry = _pick(histories.get(row[STARTS + k]), now)
                if entry is not None:
                    task, how = entry.task, continuation
                    break
        if task < 0:
            task = len(agentic)
            agentic.append(0)
            joined.append(how)
        elif joined[task] == single and how != single:
            joined[task] = how
        task_of[i] = task
        agentic[task] |= flags[i] & AGENTIC_FLAG
        mine = _Entry(task, now)
        if name:
            _put(names, name, mine)
        if conversation:
            _put(names, conversation, mine)
        if row[RESPONSE]:
            _put(responses, row[RESPONSE], mine)
        if row[HISTORY]:
            _put_shared(histories, row[HISTORY], _Entry(task, now))
        if row[ANSWER]:
            _put_shared(answers, row[ANSWER], _Entry(task, now))
    return task_of, agentic, joined
