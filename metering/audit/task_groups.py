"""Logged requests grouped into tasks the way the proxy groups live ones (docs/tasks.md, docs/audit.md).

Each counted request is held as a row of numbers (its time, class, pricing mode, tokens and the task keys of
`metering.audit.task_keys`: 135 bytes, packed in one buffer; bench/audit_tasks.py). At the end the rows are put in
time order — logs are not in order across files (a row without a time keeps its place after the timed row read
before it) — and walked once, each request a step of the first task found, in the proxy's order:

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

Memory: `MAX_HELD` rows (≈ 135 MB); requests past it are counted per request as always but not grouped, and the
report says how many. The tables of the walk are bounded as above.
"""

from __future__ import annotations

import itertools
import math
import operator
import struct
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from metering.audit.task_keys import ANSWER, ENDS, NONE, PREVIOUS, RUNS, STARTS, WIDTH

assert RUNS == 2, "_walk unpacks two runs' ends and starts by name"

if TYPE_CHECKING:
    from metering.audit.formats import Observation
    from metering.audit.scan import Bucket

IDLE_S = 300.0  # the proxy's default `tasks.idle_s`: a task with no step for this long has ended
MAX_ENTRIES = 200_000  # the proxy's default `tasks.max_entries`, per table
SHARED = 16  # tasks kept per shared history (identical first requests of concurrent tasks), as the proxy keeps
BOUND = MAX_ENTRIES + MAX_ENTRIES // 16  # past it, a table's oldest go in one sweep back down to MAX_ENTRIES
SWEEP_EVERY = 4096  # rows walked between two sweeps of what has been idle too long
MAX_WANTED = 400_000  # past this many digests some request continues from, every history and answer is filed
MODES = ("standard", "batch", "flex", "priority")
AGENTIC_FLAG, LOGGED_FLAG = 1, 2  # AGENTIC_FLAG must stay 1: `add` ors the class's bool in
# A held request's row, packed in C (an array's append parses each number with a format string: most of what holding
# a row cost): its time (NaN: none), then as 64-bit integers its prompt (a sampled estimate, or -1), cached,
# completion and reasoning tokens, its line's bytes, and its WIDTH task keys.
ROW = struct.Struct(f"=d{5 + WIDTH}q")
_pack = ROW.pack
COLUMNS = ROW.size // 8
keys_at = struct.Struct(f"={WIDTH}q").unpack_from
TIME, PROMPT, KEYS = 0, 1, 6


class Joined(StrEnum):
    """How a task's steps were found to be one task: the first link that joined them (a closed set)."""

    SESSION = "session"
    RESPONSE_CHAIN = "response_chain"
    CONTINUATION = "continuation"
    SINGLE = "single"


JOINED = tuple(Joined)


@dataclass
class Grouping:
    """The tasks found: their count by class and by how they were joined, steps per task, tokens by task class."""

    tasks: int = 0
    agentic_tasks: int = 0
    joined: Counter[str] = field(default_factory=Counter)
    steps: list[int] = field(default_factory=list)  # steps of each task, in no particular order
    # (task agentic, request agentic, mode) -> token sums, as the tally keeps them per (class, mode)
    parts: dict[tuple[bool, bool, str], Bucket] = field(default_factory=dict)
    grouped: int = 0  # requests grouped
    answered: int = 0  # of them, with a logged answer (continuations of the rest are matched on the prefix alone)
    not_grouped: int = 0  # requests past MAX_HELD
    untimed: int = 0  # requests without a time (kept in reading order)
    reordered: int = 0  # requests read after a request logged later than them (the logs were out of order)


class TaskGroups:
    """Holds each counted request's row until `finish` groups them (see the module's docstring for the bound)."""

    MAX_HELD = 1_000_000

    def __init__(self) -> None:
        self.rows = bytearray()  # ROW per request: its time, tokens and bytes, its task keys
        self.flags = bytearray()  # AGENTIC_FLAG | LOGGED_FLAG, the index in MODES << 2, the format's number << 4
        self.formats: dict[str, int] = {}
        self.held = 0
        self.skipped = 0
        self.room = self.MAX_HELD  # read per request as an instance's own number (a class attribute is a slow look-up)

    def add(self, o: Observation) -> None:
        """Hold one counted request (called for every request the tally counts)."""
        if self.held >= self.room:
            self.skipped += 1
            return
        self.held += 1
        moment = o.ts
        usage = o.usage
        tier = o.service_tier
        mode = 1 if o.batch else 0 if tier is None else 2 if tier == "flex" else 3 if tier == "priority" else 0
        fmt = self.formats.get(o.fmt)
        if fmt is None:
            fmt = self.formats[o.fmt] = len(self.formats) & 15  # five formats: never wraps
        task = o.task
        # The keys unpacked and passed one by one: `*task` builds the call's arguments anew (about 700 instructions).
        name, previous, conversation, response, history, answer, end0, end1, start0, start1 = (
            NONE if task is None else task
        )
        if usage is not None:
            self.flags.append(o.agentic | LOGGED_FLAG | mode << 2 | fmt << 4)  # AGENTIC_FLAG is 1: the bool itself
            prompt, cached = usage.prompt_tokens, usage.cached_tokens
            completion, reasoning = usage.completion_tokens, usage.reasoning_tokens
        else:
            self.flags.append(o.agentic | mode << 2 | fmt << 4)
            estimate = o.prompt_estimate
            prompt, cached, completion, reasoning = -1 if estimate is None else estimate, 0, 0, 0
        self.rows += _pack(
            math.nan if moment is None else moment,
            prompt,
            cached,
            completion,
            reasoning,
            o.size,
            name,
            previous,
            conversation,
            response,
            history,
            answer,
            end0,
            end1,
            start0,
            start1,
        )

    def finish(
        self,
        tokens_per_byte: Callable[[str, bool], float],
        totals: dict[tuple[str, str], Bucket] | None = None,
    ) -> Grouping:
        """Group the held rows into tasks and sum their tokens by task class; the rows are released.

        `totals`: the tally's token sums of the same requests by class × pricing mode, before their unsampled prompts
        are scaled (each counted request is held here too, unless past MAX_HELD): the sums by task class are then
        read off them, and only single-turn requests in agentic tasks are summed row by row."""
        n = self.held
        result = Grouping(grouped=n, not_grouped=self.skipped)
        with memoryview(self.rows) as held:
            with held.cast("d") as floats:
                order, times = _time_order(floats[TIME::COLUMNS], result)
            ints = held.cast("q")
            result.answered = n - _column(ints, KEYS + ANSWER).count(0)
            columns = [_column(ints, k) for k in range(PROMPT, KEYS)]  # compact: 8 bytes a number
            wanted = _wanted(ints, ENDS), _wanted(ints, STARTS), _wanted(ints, PREVIOUS, 1)  # what is continued
            ints.release()
        task_of, agentic, joined = _walk(order, times, self.rows, self.flags, *wanted)
        del wanted
        self.rows = bytearray()
        steps = list(Counter(task_of).values())  # each task's steps (counted in C), in no particular order
        result.tasks = len(agentic)
        result.agentic_tasks = sum(agentic)
        result.steps = steps
        result.joined = Counter({JOINED[j].value: count for j, count in Counter(joined).items()})
        if totals is None or self.skipped:
            _sum_every_row(result, agentic, task_of, self.flags, columns, self.formats, tokens_per_byte)
        else:
            _sum_by_difference(result, agentic, task_of, self.flags, columns, self.formats, tokens_per_byte, totals)
        self.__init__()  # type: ignore[misc]  # release the rows
        return result


def _column(ints: memoryview, k: int) -> array:
    """The k-th number of every held row, as an array (8 bytes each, not a list of int objects)."""
    return array("q", ints[k::COLUMNS].tobytes())


def _time_order(ts: memoryview, result: Grouping) -> tuple[Sequence[int], list[float]]:
    """Row indices in time order, and each row's time (an untimed row: the time of the timed row read before it,
    0 before any: it keeps its place after that row, and rows without any time are never idle).

    Logs are mostly written in time order, and mostly timed: then this is a few passes in C (the rows as they are,
    no sort)."""
    times: list[float] = ts.tolist()
    if not any(map(math.isnan, times)):
        # In order (most logs): a sort of a sorted list is one comparison a row, and the lists are then equal item by
        # item (the same objects) — where counting the rows read after a later one calls `max` on every row.
        if sorted(times) == times:
            return range(len(times)), times
        result.reordered = sum(map(operator.lt, times, itertools.accumulate(times, max)))
        return sorted(range(len(times)), key=times.__getitem__), times  # stable: ties keep their reading order
    last = 0.0
    latest = -math.inf
    for k, moment in enumerate(times):
        if math.isnan(moment):
            result.untimed += 1
            times[k] = last
        else:
            last = moment
            if moment < latest:
                result.reordered += 1
            latest = max(latest, moment)
    return sorted(range(len(times)), key=times.__getitem__), times  # stable: ties keep their reading order


# A task as of one of its steps (a table's value): [when, its task, how often it was continued]. A plain list, not
# a class: one is made for every request walked, and a list display costs a fraction of a call to a class.
AT, TASK, CONTINUED = range(3)
Entry = list  # [float, int, int]


class _Shared(list):  # type: ignore[type-arg]
    """The entries of several tasks filed under one key (identical first requests), the latest last: a type of its
    own, so that `type(value) is list` tells a single entry (nearly every value) without a call."""


def _pick(entries: Entry | _Shared | None, now: float) -> Entry | None:
    """The entry a continuation belongs to: one nobody continued yet, the latest first (identical histories of
    several tasks are shared out, never merged), else the latest."""
    if entries is None:
        return None
    if type(entries) is list:
        if now - entries[AT] > IDLE_S:
            return None
        entries[CONTINUED] += 1
        return entries
    latest = None
    for entry in reversed(entries):  # filed in time order: past the first idle one, all are
        if now - entry[AT] > IDLE_S:
            break
        if latest is None:
            latest = entry
        if not entry[CONTINUED]:
            latest = entry
            break
    if latest is not None:
        latest[CONTINUED] += 1
    return latest


def _put(table: dict[int, Entry], key: int, entry: Entry) -> None:
    table.pop(key, None)  # re-inserted last: a table's oldest entries stay first
    table[key] = entry
    if len(table) > BOUND:
        _bound(table)


def _put_shared(table: dict[int, Entry | _Shared], key: int, entry: Entry, found: Any) -> None:
    """File `entry` under `key` beside the other tasks' entries there (the same history or answer in several tasks:
    one bare entry, else a `_Shared` list of at most SHARED, the latest last). `found`: what was filed there, taken
    out by the caller (popped, so that the key goes back in last: a table's oldest entries stay first)."""
    if found is None or (type(found) is list and found[TASK] == entry[TASK]):
        table[key] = entry
    else:
        kept = _Shared((found,)) if type(found) is list else found
        if kept[-1][TASK] == entry[TASK]:  # this task's own request again (a retry): it replaces its entry
            kept[-1] = entry
        else:
            kept.append(entry)
            if len(kept) > SHARED:
                del kept[0]
        table[key] = kept
    if len(table) > BOUND:
        _bound(table)


def _sweep(tables: tuple[dict[int, Any], ...], now: float) -> None:
    """Forget what has been idle past IDLE_S (of log time): nothing can continue it any more. A table's oldest
    entries come first (each is re-inserted when written), so this stops at the first one still alive."""
    for table in tables:
        stale = []
        for key, value in table.items():
            entry = value if type(value) is list else value[-1]
            if now - entry[AT] <= IDLE_S:
                break
            stale.append(key)
        for key in stale:
            del table[key]


def _bound(table: dict[int, Any]) -> None:
    """Past MAX_ENTRIES and a sixteenth, the oldest go back down to MAX_ENTRIES in one sweep (as the proxy does)."""
    if len(table) > BOUND:
        for old in list(itertools.islice(table, len(table) - MAX_ENTRIES)):
            del table[old]


class _Everything:
    """Every digest is wanted (too many to list: each history and answer is filed, as before the lists)."""

    def __contains__(self, digest: object) -> bool:
        return True


EVERYTHING = _Everything()


def _wanted(ints: memoryview, first: int, columns: int = RUNS) -> set[int] | _Everything:
    """The digests some request continues from: the answers (`first` = ENDS) or the histories (STARTS) it can extend,
    or the responses it names as its previous one (PREVIOUS, one column).

    A history or an answer no request's runs name can never be looked up, so the walk files only these — most
    requests are continued by nothing (a one-off question, the last step of a task) — which spares it a table
    write for nearly every such request. Bounded: past MAX_WANTED digests, everything is filed (and the tables
    are bounded as the proxy bounds them; only the entries that can be found count towards that bound)."""
    found: set[int] = set()
    for k in range(columns):
        found.update(ints[KEYS + first + k :: COLUMNS])  # read as it goes: no list of every row's number
        if len(found) > MAX_WANTED:
            return EVERYTHING
    found.discard(0)
    return found


def _walk(
    order: Sequence[int],
    times: list[float],
    rows: bytearray,
    flags: bytearray,
    wanted_answers: set[int] | _Everything = EVERYTHING,
    wanted_histories: set[int] | _Everything = EVERYTHING,
    wanted_responses: set[int] | _Everything = EVERYTHING,
) -> tuple[array, bytearray, bytearray]:
    """Each row's task, each task's class (1: agentic) and how it was joined (index in JOINED); `rows` are the
    held rows (ROW each)."""
    task_of = array("l", bytes(8 * len(order)))
    tasks_of = memoryview(task_of)  # written through a view: an array's item assignment parses a format string
    agentic = bytearray()
    joined = bytearray()
    names: dict[int, Entry] = {}
    responses: dict[int, Entry] = {}
    answers: dict[int, Entry | _Shared] = {}
    histories: dict[int, Entry | _Shared] = {}
    tables = (names, responses, answers, histories)
    session, chain, continuation, single = (
        JOINED.index(j) for j in (Joined.SESSION, Joined.RESPONSE_CHAIN, Joined.CONTINUATION, Joined.SINGLE)
    )
    keys = memoryview(rows).cast("q")
    for at in range(0, len(order), SWEEP_EVERY):  # in slices: a sweep between two, no count kept per row
        _sweep(tables, times[order[at]])
        walked = order[at : at + SWEEP_EVERY]
        # Each row's keys in task_keys' order (NAME ... ANSWER, then the ENDS and STARTS runs), read in C: rows in
        # reading order (most logs) a column at a time, else row by row.
        if type(walked) is range:
            first, stop = walked.start * COLUMNS + KEYS, walked.stop * COLUMNS
            keyed = zip(*(keys[first + k : stop : COLUMNS].tolist() for k in range(WIDTH)), strict=True)
        else:
            keyed = map(keys_at, itertools.repeat(rows), [ROW.size * i + KEYS * 8 for i in walked])
        for i, (name, previous, conversation, response, history, answer, end0, end1, start0, start1) in zip(
            walked, keyed, strict=True
        ):
            now = times[i]
            task, how = -1, single
            if name:
                found = names.get(name)
                if found is not None and now - found[AT] <= IDLE_S:
                    task = found[TASK]
                how = session
            elif previous or conversation:
                found = responses.get(previous) if previous else None
                if (found is None or now - found[AT] > IDLE_S) and conversation:
                    found = names.get(conversation)
                if found is not None and now - found[AT] <= IDLE_S:
                    task = found[TASK]
                how = chain if task >= 0 or conversation else single  # a chain from a response the logs lack: single
            if task < 0 and end0:  # a history with answers in it (an end, hence a start): it may continue a task
                for end, start in ((end0, start0), (end1, start1)):  # longest first: a run's end, then its start, ...
                    entry = _pick(answers.get(end), now) if end else None
                    if entry is None and start:
                        entry = _pick(histories.get(start), now)
                    if entry is not None:
                        task, how = entry[TASK], continuation
                        break
            if task < 0:
                task = len(agentic)
                agentic.append(flags[i] & AGENTIC_FLAG)
                joined.append(how)
            else:
                if joined[task] == single and how != single:
                    joined[task] = how
                agentic[task] |= flags[i] & AGENTIC_FLAG
            tasks_of[i] = task
            history = history if history in wanted_histories else 0
            answer = answer if answer in wanted_answers else 0
            response = response if response in wanted_responses else 0
            if not (name or conversation or response or history or answer):
                continue  # nothing can find it: no entry (most one-off requests)
            mine = [now, task, 0]  # one entry for every table: continued by whichever way it was found
            if name:
                _put(names, name, mine)
            if conversation:
                _put(names, conversation, mine)
            if response:
                _put(responses, response, mine)
            if history:  # most are new: filed here without a call (see _put_shared)
                found = histories.pop(history, None)
                if found is None and len(histories) < BOUND:
                    histories[history] = mine
                else:
                    _put_shared(histories, history, mine, found)
            if answer:
                found = answers.pop(answer, None)
                if found is None and len(answers) < BOUND:
                    answers[answer] = mine
                else:
                    _put_shared(answers, answer, mine, found)
    keys.release()
    tasks_of.release()
    return task_of, agentic, joined


def _sum_every_row(
    result: Grouping,
    agentic: bytearray,
    task_of: array,
    row_flags: bytearray,
    columns: list[array],
    format_numbers: dict[str, int],
    tokens_per_byte: Callable[[str, bool], float],
) -> None:
    """`result.parts` summed over every held row: per cell (task class, request flags) first, then per part."""
    from metering.audit.scan import Bucket  # the tally's own token sums (scan imports this module)

    # Summed per cell (task class, request flags, mode, format) in plain lists first: one pass over the rows.
    sums: dict[tuple[int, int], list[int]] = {}
    rows = zip(task_of, row_flags, *columns, strict=True)
    del columns
    for task, flags, prompt, cached, completion, reasoning, size in rows:
        cell = (agentic[task], flags)
        sums_of = sums.get(cell)
        if sums_of is None:
            sums_of = sums[cell] = [0] * 7  # requests, prompt, cached, completion, reasoning, sampled, bytes
        sums_of[0] += 1
        if flags & LOGGED_FLAG:
            sums_of[1] += prompt
            sums_of[2] += cached
            sums_of[3] += completion
            sums_of[4] += reasoning
        elif prompt >= 0:
            sums_of[5] += prompt
        else:
            sums_of[6] += size
    formats = {number: name for name, number in format_numbers.items()}
    for (task_agentic, flags), (
        requests,
        prompt,
        cached,
        completion,
        reasoning,
        sampled,
        size,
    ) in sums.items():
        request_agentic = bool(flags & AGENTIC_FLAG)
        key = (bool(task_agentic), request_agentic, MODES[flags >> 2 & 3])
        part = result.parts.get(key)
        if part is None:
            part = result.parts[key] = Bucket()
        part.requests += requests
        if flags & LOGGED_FLAG:
            part.logged += requests
            part.prompt += prompt
            part.cached += cached
            part.completion += completion
            part.reasoning += reasoning
        else:  # unsampled prompts scaled by their format × class's tokens per byte, as the tally scales them
            part.estimated += requests
            part.estimated_prompt += sampled + round(size * tokens_per_byte(formats[flags >> 4], request_agentic))


def _sum_by_difference(
    result: Grouping,
    agentic: bytearray,
    task_of: array,
    row_flags: bytearray,
    columns: list[array],
    format_numbers: dict[str, int],
    tokens_per_byte: Callable[[str, bool], float],
    totals: dict[tuple[str, str], Bucket],
) -> None:
    """`result.parts` as `_sum_every_row` makes them, read off the tally's `totals` by class × mode.

    An agentic request's task is agentic: its part is the tally's agentic sums. A single-turn request's task may be
    either, so the single-turn requests in agentic tasks (found in C: each row's task class against its own) are
    summed row by row and the single-turn tasks' part is the rest. Unsampled bytes are scaled per format × class
    after the subtraction, one rounding per part and format as `_sum_every_row` rounds them; the parts are made in the
    order of their first row, as `_sum_every_row` makes them."""
    from metering.audit.scan import Bucket  # the tally's own token sums (scan imports this module)

    formats = {number: name for name, number in format_numbers.items()}
    task_class = bytes(map(agentic.__getitem__, task_of))  # 1: the row's task is agentic
    # Each row's part as one byte: its mode, its own class, its task's class.
    own = row_flags.translate(_PART_OF_FLAGS)
    code = bytes(map(operator.or_, own, task_class.translate(_TASK_TABLE)))
    prompt_of, cached_of, completion_of, reasoning_of, size_of = columns
    crossed: dict[int, list[int]] = {}  # mode -> requests, logged, prompt, cached, completion, reasoning, sampled
    crossed_bytes: dict[int, Counter[int]] = {}  # mode -> unsampled bytes by format number
    single_in_agentic = bytes(_TASK_BIT[1] | mode << 2 for mode in range(len(MODES)))  # task agentic, own single
    for i in itertools.compress(range(len(code)), map(single_in_agentic.__contains__, code)):
        flags = row_flags[i]
        mode = flags >> 2 & 3
        sums = crossed.get(mode)
        if sums is None:
            sums = crossed[mode] = [0] * 7
            crossed_bytes[mode] = Counter()
        sums[0] += 1
        prompt = prompt_of[i]
        if flags & LOGGED_FLAG:
            sums[1] += 1
            sums[2] += prompt
            sums[3] += cached_of[i]
            sums[4] += completion_of[i]
            sums[5] += reasoning_of[i]
        elif prompt >= 0:
            sums[6] += prompt
        else:
            crossed_bytes[mode][flags >> 4] += size_of[i]
    found = []
    for mode_number, mode in enumerate(MODES):
        for task_agentic, request_agentic in ((True, True), (True, False), (False, False)):
            part_code = mode_number << 2 | request_agentic | _TASK_BIT[task_agentic]
            first = code.find(part_code)
            if first >= 0:
                found.append((first, (task_agentic, request_agentic, mode)))
    numbers = {name: number for number, name in formats.items()}
    for _first, (task_agentic, request_agentic, mode) in sorted(found):
        total = totals.get((AGENTIC_LABEL if request_agentic else SINGLE_LABEL, mode))
        assert total is not None, "every held request is in the tally's totals"
        mode_number = MODES.index(mode)
        sums = crossed.get(mode_number, [0] * 7)
        by_format = crossed_bytes.get(mode_number, Counter())
        sign = 1 if task_agentic and not request_agentic else 0
        part = result.parts[(task_agentic, request_agentic, mode)] = Bucket()
        if sign:  # single-turn requests in agentic tasks: their own sums
            part.requests, part.logged = sums[0], sums[1]
            part.prompt, part.cached, part.completion, part.reasoning = sums[2], sums[3], sums[4], sums[5]
            sampled = sums[6]
            unsampled = {formats[number]: size for number, size in by_format.items()}
        elif request_agentic:  # agentic requests: the tally's sums
            part.requests, part.logged = total.requests, total.logged
            part.prompt, part.cached, part.completion, part.reasoning = (
                total.prompt,
                total.cached,
                total.completion,
                total.reasoning,
            )
            sampled = total.estimated_prompt
            unsampled = dict(total.unsampled_bytes)
        else:  # single-turn requests in single-turn tasks: the tally's sums less the crossed ones
            part.requests, part.logged = total.requests - sums[0], total.logged - sums[1]
            part.prompt = total.prompt - sums[2]
            part.cached = total.cached - sums[3]
            part.completion = total.completion - sums[4]
            part.reasoning = total.reasoning - sums[5]
            sampled = total.estimated_prompt - sums[6]
            unsampled = {name: size - by_format.get(numbers[name], 0) for name, size in total.unsampled_bytes.items()}
        part.estimated = part.requests - part.logged
        part.estimated_prompt = sampled + sum(
            round(size * tokens_per_byte(name, request_agentic)) for name, size in unsampled.items() if size
        )


AGENTIC_LABEL, SINGLE_LABEL = "agentic", "single_turn"  # the tally's class labels (metering/audit/scan.py)
_TASK_BIT = (0, 0x80)  # a part code's bit for its task's class (a row's flags leave bit 7 free: five formats)
_TASK_TABLE = bytes(_TASK_BIT) + bytes(254)  # a row's task class (0 or 1) -> its bit, for bytes.translate
# A row's flags -> its part code without the task's bit: its own class (bit 0) and pricing mode (bits 2-3).
_PART_OF_FLAGS = bytes(flags & (AGENTIC_FLAG | 0b1100) for flags in range(256))
