"""The continuation index: which task an answer belongs to, keyed by the history that led to it.

Key = a digest of (the client's key, the normalised history, the answer routetax returned). Request
n+1 of a task extends request n plus answer n, so its own history runs through that key: the lookup
hashes the history once, atom by atom (each digest chained on the previous one), and takes the
longest prefix that ends where a registered answer ends. One entry per answer, so two tasks that
start with byte-identical requests are never merged (their answers differ: call ids, text), and two
continuations of one answer (a fork, a retry) are both that answer's task.

A client that rewrites the answer before sending it back (smolagents turns a tool call into text and
returns its result as a user "Observation:") extends request n but not answer n. For those the index
also files each answer under the request that asked for it; a lookup there is confirmed only when the
answer's marks (its call ids, else its first characters) appear in what follows that request.

Agents that keep their whole transcript in one growing prompt (a ReAct scratchpad: the last user message
is the previous one plus the model's answer plus the observation) do not add messages at all. Each answer
is also filed under its request's last user message when that is long (`PROMPT_MIN_CHARS`); a request
whose last user message extends one filed — same text up to its length, the answer's marks in what
follows — continues that task. Found within one process only (not shared through Redis).

In-process, bounded by `max_entries` per table (the oldest go first) and by `idle_s` (an entry not
continued within it is a task that has ended). `router.tasks.shared` shares it between processes.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from dataclasses import dataclass
from typing import Any

import orjson

from metering.task_atoms import (
    DIGEST_BYTES,
    SKIPPED_ROLES,
    TEXT,
    Atom,
    Kind,
    atom_bytes,
    atom_digest,
    chain,
    chat_atoms,
    digest_of,
    history_atoms,
    model_runs,
    responses_atoms,
)
from router.tasks.answer import MARK_SEPARATOR, split_marks

REWRITE_CANDIDATES = 16  # answers kept per request (identical first requests of concurrent tasks)
PROMPT_MIN_CHARS = 200  # a last user message at least this long may grow into the next step's (a scratchpad)


# Not frozen, like Match and Boundaries: made on every request, and a frozen dataclass's __init__ sets each field
# through object.__setattr__ (~0.4 µs more an object); nothing hashes them or keeps them past their request.
@dataclass(slots=True)
class Prompt:
    """A request's last user message as the next step's may extend it: where, how long, its digest."""

    key: bytes  # digest of the history before it, and its role
    chars: int
    digest: bytes

    @classmethod
    def of(cls, digests: list[bytes], atoms: list[Atom], chars: int | None = None) -> Prompt | None:
        """The last message of `atoms` (its first `chars` characters), when it is a long enough user turn."""
        if not atoms:
            return None
        last = atoms[-1]
        kind, ref, _, text = last
        if kind != Kind.MESSAGE or ref != "user" or len(text) < PROMPT_MIN_CHARS:
            return None
        text = text if chars is None else text[:chars]
        key = hashlib.blake2b(digests[-2] + b"\x1euser", digest_size=DIGEST_BYTES).digest()
        return cls(key, len(text), _text_digest(text))


def _text_digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=DIGEST_BYTES).digest()


# A task as of one of its answers — what the next step of the task inherits — is a plain tuple read by position
# (`TASK_ID`...), not a dataclass: the index keeps one per filed answer (up to `max_entries` in each table), and the
# collector stops tracking an exact tuple of strings, numbers and bools after its first look at it, while a
# dataclass instance stays tracked for as long as it lives (the last object a filed answer left for every older
# collection to walk); a tuple is also built without an `__init__` call, and written as JSON without orjson
# reading a dataclass field by field (~9,000 instructions an answer, bench/task_cpu.py).
#   task_id      the task
#   step         the step that produced this answer
#   agentic      its class
#   reason       TaskClassReason of the step that made it agentic ("classifier" while single-turn)
#   answered_at  unix seconds: when routetax had the whole answer
#   arm          the tier the task's first step was routed to (its exploration arm when explored)
#   explored
#   marks        call ids (else the text's start) a rewritten answer still shows (router.tasks.answer)
#   calls        the answer asked for tool calls
#   acted        the answer's text asked its client to act (an action written in text)
#   continued    requests that continued this answer here (tells identical answers of two tasks apart); the
#                answers table holds the counted entry (`TaskIndex._pick`), the other tables the one filed
Entry = tuple[str, int, bool, str, float, str | None, bool, str, bool, bool, int]
TASK_ID, STEP, AGENTIC, REASON, ANSWERED_AT, ARM, EXPLORED, MARKS, CALLS, ACTED, CONTINUED = range(11)
ENTRY_FIELDS = (
    "task_id",
    "step",
    "agentic",
    "reason",
    "answered_at",
    "arm",
    "explored",
    "marks",
    "calls",
    "acted",
    "continued",
)
_REQUIRED_FIELDS = frozenset(ENTRY_FIELDS[:7])


def new_entry(
    task_id: str,
    step: int,
    agentic: bool,
    reason: str,
    answered_at: float,
    arm: str | None,
    explored: bool,
    marks: str = "",
    calls: bool = False,
    acted: bool = False,
    continued: int = 0,
) -> Entry:
    """An entry by its fields' names (`TaskIdentity.file` builds its tuple in place)."""
    return (task_id, step, agentic, reason, answered_at, arm, explored, marks, calls, acted, continued)


def entry_json(entry: Entry) -> bytes:
    """The entry as the JSON object other processes read (`entry_from_json`; what a dataclass wrote before).

    Spelled out, in `ENTRY_FIELDS`' order: `dict(zip(...))` took three times as long, once per filed answer."""
    return orjson.dumps(
        {
            "task_id": entry[0],
            "step": entry[1],
            "agentic": entry[2],
            "reason": entry[3],
            "answered_at": entry[4],
            "arm": entry[5],
            "explored": entry[6],
            "marks": entry[7],
            "calls": entry[8],
            "acted": entry[9],
            "continued": entry[10],
        }
    )


def entry_from_json(raw: bytes | str) -> Entry | None:
    """An entry another process shared (None when it is not one: a missing or unknown field, not JSON)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not _REQUIRED_FIELDS <= data.keys() or not data.keys() <= set(ENTRY_FIELDS):
        return None
    marks = data.get("marks") or ""
    data["marks"] = marks if isinstance(marks, str) else MARK_SEPARATOR.join(marks)  # an older process's list
    return new_entry(**data)


def continued_once(entry: Entry) -> Entry:
    return (*entry[:CONTINUED], entry[CONTINUED] + 1)


@dataclass(slots=True)
class Match:
    entry: Entry
    end: int  # atoms[:end] is what the entry's answer covers; atoms[end:] is new in this request
    rewritten: bool  # found through the request the answer was asked by, the answer itself rewritten


@functools.lru_cache(maxsize=4096)
def seed(scope: str | None) -> bytes:
    """The chain's start: histories are compared only within one client key (one per key: remembered)."""
    return hashlib.blake2b((scope or "-").encode(), digest_size=DIGEST_BYTES).digest()


def extend(digest: bytes, atoms: list[Atom]) -> bytes:
    return chain(digest, atoms)[-1]


MEMO_MESSAGES = 4096  # messages remembered per generation (two generations)
MEMO_MAX_BYTES = 4096  # a longer message is normalised every time (and the memo stays small)
DIRECT_TAIL = 16  # messages from a found step's answer on normalised directly (`History.of_tail`)


class History:
    """A request's history as atoms and their own digests, remembered per message by the message's JSON bytes.

    Step n+1 of an agent loop resends step n's messages as its client serialised them before; normalising and
    hashing them all again cost ~90 µs on a 30-message tool loop (measured), looking each up by its bytes
    (`orjson.dumps`, in C) ~25 µs. A message whose bytes differ (another client, another key order) is simply
    normalised anew: the memo changes the cost, never the atoms. Bounded: two generations of `MEMO_MESSAGES`
    messages of at most `MEMO_MAX_BYTES` bytes each (≤ 32 MB with their atoms; a few MB in practice)."""

    def __init__(self) -> None:
        # message JSON -> its atoms, then their own digests, in one flat tuple (one object per message: each
        # tuple a request keeps counts towards the collector's next young collection, 2-11 ms each in the proxy)
        self._young: dict[bytes, tuple[Atom | bytes, ...]] = {}
        self._old: dict[bytes, tuple[Atom | bytes, ...]] = {}

    def of(self, body: dict[str, Any], api: str, remember: bool = True) -> tuple[list[Atom], list[bytes]]:
        """(atoms, their own digests) of a chat `messages` list or a Responses `input`."""
        responses = api == "responses"
        items = body.get("input") if responses else body.get("messages")
        if not isinstance(items, list):  # a Responses string input, or nothing usable
            atoms = history_atoms(body, api)
            return atoms, [atom_digest(atom) for atom in atoms]
        return self.of_items(items, responses, remember)

    def of_items(
        self, items: list[Any], responses: bool = False, remember: bool = True
    ) -> tuple[list[Atom], list[bytes]]:
        """(atoms, their own digests) of chat messages or Responses items. `remember=False` for messages the next
        step will not need again: a step found by its exact bytes (router.tasks.prefix) is followed by one found
        the same way, so its answer and tool results would only be memo entries nobody reads — two objects each
        the collector counts, and tracks until they age out."""
        normalise = responses_atoms if responses else chat_atoms
        atoms: list[Atom] = []
        own: list[bytes] = []
        dumps, young = orjson.dumps, self._young
        # Not remembered, a message still repeats within one request (a prompt of 250,000 identical turns): this
        # request's own table keeps each normalised once, and goes with the call — nothing left for the collector.
        own_table: dict[bytes, tuple[Atom | bytes, ...]] = {}
        for item in items:  # one pass, inlined: this runs for every message of every request
            if _instructions(item, responses):
                continue  # never part of a history (often its longest message): not even serialised
            raw = dumps(item)
            found = young.get(raw)
            if found is None:
                found = self._old.get(raw) or own_table.get(raw)
                if found is None:
                    item_atoms = normalise([item])
                    found = (*item_atoms, *map(atom_digest, item_atoms))
                    if not remember:
                        own_table[raw] = found
                if remember and len(raw) <= MEMO_MAX_BYTES:
                    if len(young) >= MEMO_MESSAGES:
                        self._old, self._young = young, {}
                        young = self._young
                    # kept as an exact-size copy: orjson's own bytes keep a ~4 KB buffer however short (measured)
                    young[bytes(memoryview(raw))] = found
            half = len(found) // 2
            atoms += found[:half]  # type: ignore[arg-type]
            own += found[half:]  # type: ignore[arg-type]
        return atoms, own

    def of_first(self, messages: list[Any]) -> tuple[list[Atom], list[bytes]]:
        """(atoms, their own digests) of a chat history without an answer in it (a task's first step), which is not
        remembered: a short one (a system prompt and a question, almost always) is normalised directly, without the
        memo's serialising and lookups that only a resent message could hit (~24,000 instructions for two messages,
        bench/task_cpu.py); a longer one goes through `of_items`, which normalises each distinct message once."""
        if len(messages) <= DIRECT_TAIL:
            atoms = chat_atoms(messages)
            return atoms, [*map(atom_digest, atoms)]
        return self.of_items(messages, remember=False)

    def of_tail(self, tail: list[Any]) -> tuple[list[Atom], list[Atom], list[bytes] | None, list[bytes]]:
        """(the answer's atoms, the atoms after it, their own digests) of a chat history from its last answer on, for
        a step found by its exact bytes (router.tasks.prefix): nothing of it is remembered. A loop's step (its
        answer and a few tool results) is normalised directly, without the memo's serialising and lookups, and the
        answer's own digests left to `TaskIndex.find_after_prefix` (None: routetax digested that answer when it
        filed it, `AnswerLinks`); a longer tail goes through `of_items`, which normalises each distinct message of a
        request once."""
        if len(tail) <= DIRECT_TAIL:
            after = chat_atoms(tail[1:])
            return chat_atoms(tail[:1]), after, None, [*map(atom_digest, after)]
        answer, answer_own = self.of_items(tail[:1], remember=False)
        after, after_own = self.of_items(tail[1:], remember=False)
        return answer, after, answer_own, after_own


LINK_MEMO = 4096  # filed answers remembered per generation (two generations)
LINK_MEMO_MAX_BYTES = 2048  # an answer atom longer than this is digested again when it comes back


class AnswerLinks:
    """A filed answer's own digest and chain link, for the next step that sends it back.

    Filing an answer digests it (its atom, then the link from its request's history); the next step sends it back
    right after that history and digested it all again (two blake2b calls for a loop's step, ~10,000 instructions).
    Kept by the history's digest followed by the very bytes `atom_digest` hashes, so a hit is the digest those
    bytes give, and an answer the client changed in any way misses and is digested as before: this changes what
    identity costs, never what it finds. One-atom answers only (one tool call, one message: almost all), bytes
    only (nothing for the collector), bounded: two generations of `LINK_MEMO` of at most `LINK_MEMO_MAX_BYTES`
    (≤ 17 MB; ~1.5 MB for tool calls)."""

    def __init__(self) -> None:
        self._young: dict[bytes, bytes] = {}
        self._old: dict[bytes, bytes] = {}

    def link(self, start: bytes, atom: Atom) -> tuple[bytes, bytes]:
        """(the atom's own digest, the chain's digest after it from `start`), remembered for when it comes back."""
        data = atom_bytes(atom)
        own = digest_of(data)
        link = digest_of(start + own)  # the fold `chain` makes
        if len(data) <= LINK_MEMO_MAX_BYTES:
            young = self._young
            if len(young) >= LINK_MEMO:
                self._old, self._young = young, {}
                young = self._young
            young[start + data] = own + link
        return own, link

    def known(self, start: bytes, atom: Atom) -> bytes | None:
        """The chain's digest after `atom` from `start`, when routetax filed that very answer after that history."""
        key = start + atom_bytes(atom)
        found = self._young.get(key) or self._old.get(key)
        return found[DIGEST_BYTES:] if found is not None else None


def _instructions(item: Any, responses: bool) -> bool:
    """A system or developer message, which the normalised history leaves out (`metering.task_atoms`)."""
    if type(item) is not dict:
        return False
    role = item.get("role")
    return type(role) is str and role in SKIPPED_ROLES and (not responses or item.get("type", "message") == "message")


@dataclass(slots=True)
class Boundaries:
    """Where answers can end and start in a history: the runs of atoms the model wrote."""

    ends: tuple[int, ...]  # positions just after a run (where an exact continuation's answer ends)
    starts: tuple[int, ...]  # positions where a run starts (where a rewritten answer begins)

    @classmethod
    def of(cls, atoms: list[Atom]) -> Boundaries:
        return cls(*model_runs(atoms))

    def covered(self, match: Match | None) -> bool:
        """Does `match` account for the history's latest answer (else another process may know a later one)?"""
        if not self.ends:
            return True  # nothing the model wrote: a first request, nothing to continue
        if match is None:
            return False
        return match.end >= self.ends[-1] or (match.rewritten and match.end >= self.starts[-1])


def confirmed(entry: Entry, atoms: list[Atom]) -> bool:
    """A rewritten answer: do all of its marks show in what follows the request that asked for it?"""
    marks = entry[MARKS]
    if not marks:
        return False
    text = "\x1f".join(f"{ref}\x1f{text}" for _, ref, _, text in atoms)
    return all(mark in text for mark in split_marks(marks))


class TaskIndex:
    """Answers by digest, answers by the request that asked for them, answers by Responses id, named tasks."""

    def __init__(self, max_entries: int, idle_s: float) -> None:
        self.max_entries = max_entries
        self.idle_s = idle_s
        self.answers: dict[bytes, Entry | tuple[Entry, ...]] = {}
        # a request's answers: the one entry, or (identical requests of several tasks) a tuple of them — not a list
        # per request, one tracked object fewer per filed answer for the collector
        self.requests: dict[bytes, Entry | tuple[Entry, ...]] = {}
        self.responses: dict[str, Entry] = {}
        self.named: dict[str, Entry] = {}
        self.prompts: dict[bytes, list[tuple[Entry, int, bytes]]] = {}
        # hash of (client key, raw history hash) -> the history's digest (router.tasks.prefix). Ints and bytes only:
        # a dict of atoms leaves the collector's sight, where a tuple key would bring the whole table back into the
        # young generation at every insert (each young collection then walked all of it: 6-16 ms, measured).
        self.prefixes: dict[int, bytes] = {}
        # answers keys whose one entry a request continued (`_pick`), evicted with them: bytes and bools, nothing
        # for the collector
        self.continued: dict[bytes, bool] = {}
        self.links = AnswerLinks()

    def answer_key(self, history: bytes, atoms: list[Atom]) -> bytes:
        """The key an answer is filed by: its request's history chained on through its atoms."""
        if len(atoms) == 1:
            return self.links.link(history, atoms[0])[1]
        return chain(history, atoms)[-1]

    def alive(self, entry: Entry | None, now: float) -> Entry | None:
        return entry if entry is not None and now - entry[ANSWERED_AT] <= self.idle_s else None

    def find(self, digests: list[bytes], atoms: list[Atom], bounds: Boundaries, now: float) -> Match | None:
        """The longest registered answer this history continues (exactly, else rewritten and confirmed)."""
        best: Match | None = None
        answers = self.answers
        for end in range(len(digests) - 1, 0, -1):  # every position: an answer may end anywhere (built-in tools)
            found = answers.get(digests[end])
            entry = self._pick(digests[end], found, now) if found is not None else None
            if entry is not None:
                best = Match(entry, end, False)
                break
        floor = best.end if best is not None else -1
        for start in reversed(bounds.starts):
            if start <= floor:
                break
            for entry in reversed(_entries(self.requests.get(digests[start]))):
                if self.alive(entry, now) is not None and confirmed(entry, atoms[start:]):
                    return Match(entry, start, True)
        return best

    def _pick(self, key: bytes, found: Entry | tuple[Entry, ...], now: float) -> Entry | None:
        """The entry a continuation belongs to. Two tasks whose histories and answers are identical file one
        key twice: their continuations are shared out, each to an answer nobody continued yet — the latest
        filed first, since a task continues soon after its answer while identical answers that are never
        continued (a stateless client asking the same thing again and again) only grow older.

        An entry is immutable: a key's one entry is counted in `continued` (a flag, no new object), one of several
        is replaced under `key` by its counted copy (only identical answers of several tasks come to that)."""
        if type(found[0]) is str:  # one entry
            if now - found[ANSWERED_AT] > self.idle_s:  # type: ignore[operator]
                return None
            self.continued[key] = True
            return found  # type: ignore[return-value]
        alive = [e for e in found if self.alive(e, now) is not None]  # type: ignore[union-attr]
        entry = next((e for e in reversed(alive) if not e[CONTINUED]), alive[-1] if alive else None)
        if entry is not None:
            self.answers[key] = tuple(continued_once(e) if e is entry else e for e in found)  # type: ignore[union-attr]
        return entry

    def adopt(self, key: bytes, entry: Entry) -> None:
        """An answer another process filed, continued by a request here: its next step is a local hit."""
        self.answers[key] = entry
        self.continued[key] = True

    def put(self, key: bytes, request: bytes | None, entry: Entry, response_id: str | None = None) -> None:
        """File an answer: by its digest, by the request that asked it (None: not a history), by its response id."""
        # Once per answer: a new key (almost always) is inserted as the youngest directly, the bound checked inline
        answers, over = self.answers, self.max_entries + max(self.max_entries // EVICT_SLACK, 1)
        existing = answers.get(key)
        counted = self.continued.pop(key, None)  # its one entry was continued: counted below, or replaced by a new one
        if existing is None:
            answers[key] = entry
            if len(answers) > over:
                self._put_answer(key, entry)  # sweeps
        else:  # the same history and answer again: another task's (kept beside it), or this task's retry
            if counted and type(existing[0]) is str:
                existing = continued_once(existing)  # type: ignore[arg-type]  # counted where several are told apart
            task_id = entry[TASK_ID]
            kept = tuple(e for e in _entries(existing) if e[TASK_ID] != task_id)
            value: Entry | tuple[Entry, ...] = (*kept[-REWRITE_CANDIDATES + 1 :], entry) if kept else entry
            self._put_answer(key, value)
        if request is not None:
            requests = self.requests
            siblings = requests.pop(request, None)
            if siblings is None:
                requests[request] = entry
                if len(requests) > over:
                    bounded_put(requests, request, entry, self.max_entries)  # sweeps
            else:
                kin = (*_entries(siblings)[-REWRITE_CANDIDATES + 1 :], entry)
                bounded_put(requests, request, kin, self.max_entries)
        if response_id is not None:
            self.put_response(response_id, entry)

    def _put_answer(self, key: bytes, value: Entry | tuple[Entry, ...]) -> None:
        """`answers` bounded, and the flags of the answers it evicts gone with them (`continued` ⊆ its keys)."""
        evicted = bounded_put(self.answers, key, value, self.max_entries)
        if evicted:
            continued = self.continued
            for old in evicted:
                continued.pop(old, None)

    def put_prompt(self, prompt: Prompt, entry: Entry) -> None:
        siblings = self.prompts.pop(prompt.key, None) or []
        siblings.append((entry, prompt.chars, prompt.digest))
        bounded_put(self.prompts, prompt.key, siblings[-REWRITE_CANDIDATES:], self.max_entries)

    def find_extension(self, digests: list[bytes], atoms: list[Atom], now: float) -> tuple[Entry, Atom] | None:
        """A filed answer whose request's last user message this one's extends (a scratchpad), and what it
        added (as one user turn: the answer echoed, and what running it produced)."""
        probe = Prompt.of(digests, atoms, chars=0) if atoms and len(atoms[-1][TEXT]) >= PROMPT_MIN_CHARS else None
        if probe is None:
            return None
        text = atoms[-1][TEXT]
        for entry, chars, digest in reversed(self.prompts.get(probe.key, ())):
            if chars >= len(text) or self.alive(entry, now) is None or _text_digest(text[:chars]) != digest:
                continue
            added = text[chars:]
            marks = entry[MARKS]
            if marks and all(mark in added for mark in split_marks(marks)):
                return entry, (Kind.MESSAGE, "user", "", added)
        return None

    def put_prefix(self, scope: str | None, raw: int, digest: bytes) -> None:
        """A filed answer's request, by the hash of its exact messages: the next step's bytes start with them."""
        key, prefixes = hash((scope, raw)), self.prefixes
        prefixes.pop(key, None)  # re-inserted last: the youngest (bounded_put, inlined: once per answer)
        prefixes[key] = digest
        if len(prefixes) > self.max_entries + max(self.max_entries // EVICT_SLACK, 1):
            bounded_put(prefixes, key, digest, self.max_entries)  # sweeps

    def prefix_digest(self, scope: str | None, raw: int) -> bytes | None:
        return self.prefixes.get(hash((scope, raw)))

    def find_after_prefix(
        self,
        start: bytes,
        answer: list[Atom],
        after: list[Atom],
        answer_own: list[bytes] | None,
        after_own: list[bytes],
        now: float,
    ) -> tuple[list[Atom], list[bytes], Match] | None:
        """The continuation of the history whose digest is `start` by `answer` (then `after`), when that answer
        is one routetax filed: the atoms from the answer on, their chained digests, and the match. `answer_own`:
        the answer's own digests, None when not computed yet (`AnswerLinks` may know them)."""
        atoms = answer + after
        link = self.links.known(start, answer[0]) if answer_own is None and len(answer) == 1 else None
        if link is not None:
            digests = chain(link, after, after_own)
            digests.insert(0, start)
        else:
            own = answer_own if answer_own is not None else [*map(atom_digest, answer)]
            digests = chain(start, atoms, own + after_own)
        key = digests[len(answer)]
        found = self.answers.get(key)
        entry = self._pick(key, found, now) if found is not None else None
        return (atoms, digests, Match(entry, len(answer), False)) if entry is not None else None

    def put_response(self, response_id: str, entry: Entry) -> None:
        bounded_put(self.responses, response_id, entry, self.max_entries)

    def put_named(self, name: str, entry: Entry) -> None:
        bounded_put(self.named, name, entry, self.max_entries)

    def named_entry(self, name: str, now: float) -> Entry | None:
        return self.alive(self.named.get(name), now)

    def response_entry(self, response_id: str, now: float) -> Entry | None:
        return self.alive(self.responses.get(response_id), now)

    def __len__(self) -> int:
        return len(self.answers)


def _entries(value: Entry | tuple[Entry, ...] | None) -> tuple[Entry, ...]:
    """A table's value as a tuple of entries (one entry is kept bare)."""
    if value is None:
        return ()
    return (value,) if type(value[0]) is str else value  # type: ignore[return-value]


EVICT_SLACK = 16  # a table may pass its bound by 1/16th; then its oldest 1/16th go in one sweep


def bounded_put(table: dict[Any, Any], key: Any, value: Any, limit: int) -> list[Any] | None:
    """Insert `key` as the youngest; past `limit` + 1/16th, drop the oldest back down to `limit` (and return their
    keys).

    Evicted in sweeps, not one by one: a dict's deleted slots stay at the front of its entries until it is
    resized, so finding the oldest key (`next(iter(table))`) after each insert scans them all again — 16 µs
    per insert at 200,000 entries, measured, against 0.6 µs swept."""
    table.pop(key, None)  # re-inserted last: the youngest
    table[key] = value
    if len(table) > limit + max(limit // EVICT_SLACK, 1):
        evicted = list(itertools.islice(table, len(table) - limit))
        for old in evicted:
            del table[old]
        return evicted
    return None
