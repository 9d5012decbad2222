"""Which task a request is a step of, and filing the answer it gets so the next step finds it.

In this order: (1) the client's `x-routetax-task` header, scoped to its key; (2) a Responses request's
`previous_response_id` (the task of the response it names), then its `conversation`; (3) an implicit
continuation — its history extends an earlier request's history plus the answer routetax gave it
(`router.tasks.index`); (4) otherwise a new task, `task_` + 24 hex.

The context found at intake travels with the request (`TaskContext`); when the answer is whole and
usable, `file` records it under every key the next step may come by.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from metering.record import TaskClassReason, TaskSource
from metering.task_atoms import Atom, history_atoms, responses_atoms
from router.errors import ProxyError, Refusal
from router.tasks.answer import AnswerAtoms
from router.tasks.index import (
    AGENTIC,
    ANSWERED_AT,
    ARM,
    EXPLORED,
    STEP,
    TASK_ID,
    Boundaries,
    Entry,
    History,
    Match,
    Prompt,
    TaskIndex,
    chain,
    seed,
)
from router.tasks.loop import loop_signal, wrote_action
from router.tasks.prefix import raw_history
from router.tasks.shared import SharedTasks

TASK_HEADER = "x-routetax-task"
TASK_END_HEADER = "x-routetax-task-end"
MAX_TASK_ID_CHARS = 200
# Enum members read on every request, looked up once here (an enum class's attribute costs ~70 ns more than this)
_CLASSIFIER, _LOOP_SIGNAL, _EARLIER_STEP = (
    TaskClassReason.CLASSIFIER,
    TaskClassReason.LOOP_SIGNAL,
    TaskClassReason.EARLIER_STEP,
)
_NEW, _CONTINUATION = TaskSource.NEW, TaskSource.CONTINUATION


def new_task_id() -> str:
    """`task_` + 24 hex of the system's randomness: what `secrets.token_hex(12)` returns, without its three Python
    calls (once per first request)."""
    return "task_" + os.urandom(12).hex()


def header_task(value: str | None) -> str | None:
    """The client's task id: printable, at most 200 characters; anything else is a 400."""
    if value is None:
        return None
    if not value or len(value) > MAX_TASK_ID_CHARS or not value.isprintable() or value.strip() != value:
        raise ProxyError(
            Refusal.INVALID_HEADER,
            f"`{TASK_HEADER}` must be 1 to {MAX_TASK_ID_CHARS} printable characters without surrounding spaces.",
            param=TASK_HEADER,
        )
    return value


@dataclass(slots=True)
class TaskContext:
    """What intake learned about a request's task; `file` turns it into the entry its answer is filed as."""

    task_id: str
    source: TaskSource
    step: int
    scope: str | None  # the client's key id (None in open mode)
    previous: Entry | None  # the task as of the answer this request follows
    loop: bool  # the loop signal fired on this step
    end: bool  # the client said this is the task's last request
    history: bytes | None = None  # digest of the normalised history: the key its answer extends
    name: str | None = None  # the named-task key (header, conversation)
    agentic: bool = False  # the class this step was routed as
    reason: TaskClassReason = TaskClassReason.CLASSIFIER
    prompt: Prompt | None = None  # its last user message, should the next step extend it (a scratchpad)
    raw: int | None = None  # hash of its exact messages (router.tasks.prefix): how the next step may find it
    arm: str | None = None
    explored: bool = False

    def classify(self, classified_agentic: bool) -> tuple[bool, TaskClassReason]:
        """The class this step is routed as: agentic from the step that made it so, on every later step."""
        if self.previous is not None and self.previous[AGENTIC]:
            self.agentic, self.reason = True, _EARLIER_STEP
        elif self.loop:
            self.agentic, self.reason = True, _LOOP_SIGNAL
        else:
            self.agentic, self.reason = classified_agentic, _CLASSIFIER
        return self.agentic, self.reason


class TaskIdentity:
    """Resolves task identity at intake and files answers after; `shared` spreads both across processes."""

    def __init__(self, index: TaskIndex, machine_pace_s: float, shared: SharedTasks | None = None) -> None:
        self.index = index
        self.machine_pace_s = machine_pace_s
        self.shared = shared
        self.history = History()

    async def identify(
        self, body: dict[str, Any], api: str, headers: Mapping[str, str], scope: str | None
    ) -> TaskContext:
        now = time.time()
        named = header_task(headers.get(TASK_HEADER))
        end = headers.get(TASK_END_HEADER, "").strip().lower() == "true"
        if named is not None:
            return await self._header(named, body, api, scope, end, now)
        if api == "responses":
            previous_id = body.get("previous_response_id")
            if isinstance(previous_id, str):
                entry = self.index.response_entry(previous_id, now)
                if entry is None and self.shared is not None:
                    entry = await self.shared.response(previous_id, now)
                if entry is not None:
                    new = responses_atoms(body.get("input"))
                    return self._following(entry, TaskSource.RESPONSE_CHAIN, new, scope, end, now)
            conversation = body.get("conversation")
            if isinstance(conversation, dict):
                conversation = conversation.get("id")
            if isinstance(conversation, str) and conversation:
                name = f"c\x1f{scope}\x1f{conversation}"
                task_id = "task_" + hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()
                return await self._named(task_id, name, TaskSource.CONVERSATION, body, api, scope, end, now)
        atoms, digests, match, raw, bounds = self._local(body, api, scope, now)
        if bounds is not None and self.shared is not None and not bounds.covered(match):
            match = await self.shared.find(digests, atoms, bounds, match, now)
        extended = self.index.find_extension(digests, atoms, now) if match is None else None
        if match is not None:
            context = self._following(match.entry, _CONTINUATION, atoms[match.end :], scope, end, now)
        elif extended is not None:  # a scratchpad that grew by the answer and what running it produced
            context = self._following(extended[0], _CONTINUATION, [extended[1]], scope, end, now)
        else:
            context = TaskContext(new_task_id(), _NEW, 1, scope, None, False, end)
        context.history, context.prompt, context.raw = digests[-1], Prompt.of(digests, atoms), raw
        return context

    def _local(
        self, body: dict[str, Any], api: str, scope: str | None, now: float
    ) -> tuple[list[Atom], list[bytes], Match | None, int | None, Boundaries | None]:
        """The history's atoms, their digests, the longest filed answer this process knows it continues, the hash
        of its exact messages, and (when normalised whole) where its answers are, for the caller to ask Redis when
        this process's match does not cover them. When the messages before its last answer are byte for byte a
        filed request's (router.tasks.prefix), the atoms and digests start at that answer: all that follows needs.
        Not a coroutine: the store is asked by the caller, only on a miss (one coroutine fewer per request)."""
        messages = body.get("messages") if api == "chat" else None
        raw = raw_history(messages) if messages is not None else None
        if raw is not None:
            split, before, whole = raw
            if before is not None:
                start = self.index.prefix_digest(scope, before)
                if start is not None:
                    answer, after, answer_own, after_own = self.history.of_tail(messages[split:])  # type: ignore[index]
                    found = self.index.find_after_prefix(start, answer, after, answer_own, after_own, now)
                    if found is not None:
                        return found[0], found[1], found[2], whole, None
        # A chat history with no answer in it (a task's first step) is remembered only when it has to be: its next
        # step is found by its exact bytes unless the client rewrote them, and then that step's own lookup
        # remembers the messages it resends. A short one is normalised directly (`History.of_first`).
        if raw is not None and raw[1] is None:
            atoms, own = self.history.of_first(messages)  # type: ignore[arg-type]
        else:
            atoms, own = self.history.of(body, api)
        digests = chain(seed(scope), atoms, own)
        bounds = Boundaries.of(atoms)
        match = self.index.find(digests, atoms, bounds, now)
        return atoms, digests, match, raw[2] if raw is not None else None, bounds

    async def _header(
        self, task_id: str, body: dict[str, Any], api: str, scope: str | None, end: bool, now: float
    ) -> TaskContext:
        """The client's own task: its latest state is the newer of what was filed by name and what the history
        continues (that is how a process learns of steps another worker or replica served)."""
        name = f"h\x1f{scope}\x1f{task_id}"
        atoms, digests, match, raw, bounds = self._local(body, api, scope, now)
        if bounds is not None and self.shared is not None and not bounds.covered(match):
            match = await self.shared.find(digests, atoms, bounds, match, now)
        if match is not None and match.entry[TASK_ID] != task_id:
            match = None  # another task's answer in this history: not a step of this one
        entry = self.index.named_entry(name, now)
        if entry is None and match is None:  # the history told nothing: what other processes know of the name
            entry = await self._shared_named(name, now)
        if match is not None and (entry is None or match.entry[STEP] >= entry[STEP]):
            context = self._following(match.entry, TaskSource.HEADER, atoms[match.end :], scope, end, now)
        elif entry is not None:
            ends = Boundaries.of(atoms).ends
            context = self._following(entry, TaskSource.HEADER, atoms[ends[-1] :] if ends else atoms, scope, end, now)
        else:
            context = TaskContext(task_id, TaskSource.HEADER, 1, scope, None, False, end)
        context.task_id, context.name, context.history, context.raw = task_id, name, digests[-1], raw
        context.prompt = Prompt.of(digests, atoms)
        return context

    async def _named(
        self,
        task_id: str,
        name: str,
        source: TaskSource,
        body: dict[str, Any],
        api: str,
        scope: str | None,
        end: bool,
        now: float,
    ) -> TaskContext:
        """A task the API names (a Responses `conversation`): its state is kept by name."""
        entry = self.index.named_entry(name, now)
        if entry is None:
            entry = await self._shared_named(name, now)
        if entry is None:
            context = TaskContext(task_id, source, 1, scope, None, False, end)
        else:  # the API keeps the history: what the request sends is all new
            context = self._following(entry, source, history_atoms(body, api), scope, end, now)
            context.task_id = task_id
        context.name = name
        return context

    async def _shared_named(self, name: str, now: float) -> Entry | None:
        """A named task another process filed (None without a store), adopted locally: its next step is a local hit."""
        if self.shared is None:
            return None
        entry = await self.shared.named(name, now)
        if entry is not None:
            self.index.put_named(name, entry)
        return entry

    def _following(
        self, entry: Entry, source: TaskSource, new: list[Atom], scope: str | None, end: bool, now: float
    ) -> TaskContext:
        loop = loop_signal(new, entry, now - entry[ANSWERED_AT], self.machine_pace_s)
        context = TaskContext(entry[TASK_ID], source, entry[STEP] + 1, scope, entry, loop, end)
        context.arm, context.explored = entry[ARM], entry[EXPLORED]
        return context

    def file(self, context: TaskContext, answer: AnswerAtoms, routed_tier: str | None) -> None:
        """File a usable answer under the keys the task's next step may arrive by (a task that ended: none)."""
        if context.end:
            return
        arm = context.arm if context.arm is not None else routed_tier
        acted = wrote_action(answer.text)
        entry: Entry = (
            context.task_id,
            context.step,
            context.agentic,
            str(context.reason),  # an exact str (an enum member would keep the tuple tracked)
            time.time(),
            arm,
            context.explored,
            answer.marks,
            answer.calls is not None,
            acted,
            0,
        )
        key = request = None
        if context.history is not None and answer.atoms:
            key, request = self.index.answer_key(context.history, answer.atoms), context.history
            self.index.put(key, request, entry, answer.response_id)
            if context.raw is not None:
                self.index.put_prefix(context.scope, context.raw, context.history)
            if context.prompt is not None:
                self.index.put_prompt(context.prompt, entry)
        elif answer.response_id is not None:  # a chained request's history is partial: only its id can be followed
            self.index.put_response(answer.response_id, entry)
        if context.name is not None:
            self.index.put_named(context.name, entry)
        if self.shared is not None:
            self.shared.publish(key, request, entry, answer.response_id, context.name)
