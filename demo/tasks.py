"""The demo world's tasks: which kinds it runs, how many of each, and what each one is to do.

What a team pays for, and what succeeds or fails, is a task — an agent run or a conversation — so the demo's
application runs tasks, and the world states them up front: from (how many tasks, the agentic share, the
seed) `plan_tasks` decides every task's kind, its number of tool rounds or turns, whether it is abandoned
and after which tool call, whether the application sends feedback on it, and the draw that decides its
success once its arm is known. `TaskMix.describe` states the same numbers, so what the demo prints is what
ran (the tests check it). demo/application.py runs the plans through the openai SDK.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """The kinds of task the demo's application runs."""

    TOOL_LOOP = "tool_loop"  # chat completions, tools executed by the application; no task header
    TOOL_LOOP_HEADER = "tool_loop_header"  # the same, sending `x-routetax-task` on every step
    TEXT_PROTOCOL = "text_protocol"  # ReAct in text: `Action: tool[input]`, answered by a user `Observation:`
    RESPONSES_LOOP = "responses_loop"  # the Responses API, the full input sent each turn (the Agents SDK's default)
    SINGLE_TURN = "single_turn"  # one call
    CONVERSATION = "conversation"  # a person's few turns of plain user messages, with a pause between them


AGENT_KINDS = (Kind.TOOL_LOOP, Kind.TOOL_LOOP_HEADER, Kind.TEXT_PROTOCOL, Kind.RESPONSES_LOOP)
SINGLE_KINDS = (Kind.SINGLE_TURN, Kind.CONVERSATION)


def true_class(kind: Kind) -> str:
    """The class the task really is (what the world's success rates are keyed by), whatever the router reads."""
    return "agentic" if kind in AGENT_KINDS else "single_turn"


@dataclass(frozen=True)
class Plan:
    """What one task is to do, decided before it runs."""

    index: int
    kind: Kind
    rounds: int  # agent kinds: tool rounds before the final answer; conversation: user turns; single turn: 1
    abandon_after: int | None  # agent kinds: walk away right after the answer asking for this tool round
    feedback: bool  # the application says how it ended (never for an abandoned task)
    stream: bool  # single turns: streamed
    draw: float  # uniform in [0, 1): the task succeeds when it is below its arm's true rate
    prompt: int  # which of the kind's prompts

    @property
    def requests(self) -> int:
        """How many model calls the task makes: each tool round, then the final answer; or each turn."""
        if self.kind in AGENT_KINDS:
            return self.abandon_after if self.abandon_after is not None else self.rounds + 1
        return self.rounds


@dataclass(frozen=True)
class TaskMix:
    """The shape of the demo's workload, in one place.

    `agentic`/`single`: how agentic and non-agentic tasks split into kinds (shares that sum to 1; how many tasks
    are agentic is the demo's `--agentic-share`). `abandoned_share`: agent tasks the application walks away
    from right after a tool call (no feedback: the proxy must find out). `feedback_share`: the other tasks on
    which the application posts feedback. `person_pause_s` is the pause between a conversation's turns, and
    `machine_pace_s` the proxy's `tasks.machine_pace_s` in the demo: the proxy's default is 5 s, a person's
    pause is seconds to minutes, so the demo shortens both (the pause twice the pace) to stay quick.
    `concurrency`: tasks run at once.
    """

    agentic: dict[Kind, float] = field(
        default_factory=lambda: {
            Kind.TOOL_LOOP: 0.3,
            Kind.TOOL_LOOP_HEADER: 0.3,
            Kind.TEXT_PROTOCOL: 0.2,
            Kind.RESPONSES_LOOP: 0.2,
        }
    )
    single: dict[Kind, float] = field(default_factory=lambda: {Kind.SINGLE_TURN: 0.85, Kind.CONVERSATION: 0.15})
    tool_rounds: tuple[int, int] = (2, 5)
    conversation_turns: tuple[int, int] = (2, 3)
    abandoned_share: float = 0.1
    feedback_share: float = 0.8
    stream_share: float = 0.3
    person_pause_s: float = 0.6
    machine_pace_s: float = 0.3
    concurrency: int = 8

    def __post_init__(self) -> None:
        for side, kinds in ((self.agentic, AGENT_KINDS), (self.single, SINGLE_KINDS)):
            if not set(side) <= set(kinds) or abs(sum(side.values()) - 1) > 1e-9:
                raise ValueError(f"a side's shares must be among {[k.value for k in kinds]} and sum to 1: {side}")
        if not 1 <= self.tool_rounds[0] <= self.tool_rounds[1] or not 1 <= self.conversation_turns[0]:
            raise ValueError("tool rounds and conversation turns are ranges of at least 1")

    def counts(self, tasks: int, agentic_share: float) -> dict[Kind, int]:
        """Tasks of each kind: the agentic share of `tasks`, each side split by its shares (largest remainder)."""
        agentic = round(tasks * agentic_share)
        return {**_split(agentic, self.agentic), **_split(tasks - agentic, self.single)}

    def describe(self, tasks: int, agentic_share: float, seed: int) -> dict[str, Any]:
        """Everything the workload does, stated: counts, shares, rounds, pace (what `demo.world` prints)."""
        plans = plan_tasks(tasks, agentic_share, seed, self)
        return {
            "tasks": tasks,
            "agentic_share": agentic_share,
            "kinds": {kind.value: n for kind, n in self.counts(tasks, agentic_share).items()},
            "requests": sum(p.requests for p in plans),
            "tool_rounds": list(self.tool_rounds),
            "conversation_turns": list(self.conversation_turns),
            "abandoned_share_of_agent_tasks": self.abandoned_share,
            "abandoned": sum(p.abandon_after is not None for p in plans),
            "feedback_share": self.feedback_share,
            "feedback": sum(p.feedback for p in plans),
            "streamed_share_of_single_turns": self.stream_share,
            "person_pause_s": self.person_pause_s,
            "machine_pace_s": self.machine_pace_s,
            "concurrency": self.concurrency,
        }


def _split(total: int, shares: dict[Kind, float]) -> dict[Kind, int]:
    exact = {kind: total * share for kind, share in shares.items()}
    counts = {kind: int(value) for kind, value in exact.items()}
    by_remainder = sorted(shares, key=lambda kind: exact[kind] - counts[kind], reverse=True)
    for kind in by_remainder[: total - sum(counts.values())]:
        counts[kind] += 1
    return counts


def plan_tasks(tasks: int, agentic_share: float, seed: int, mix: TaskMix) -> list[Plan]:
    """Every task the world runs, from the seed alone: the same arguments always plan the same tasks."""
    rng = random.Random(seed)
    kinds = [kind for kind, n in mix.counts(tasks, agentic_share).items() for _ in range(n)]
    rng.shuffle(kinds)
    agents = [i for i, kind in enumerate(kinds) if kind in AGENT_KINDS]
    abandoned = set(rng.sample(agents, round(len(agents) * mix.abandoned_share)))
    finished = [i for i in range(tasks) if i not in abandoned]
    judged = set(rng.sample(finished, round(len(finished) * mix.feedback_share)))
    plans = []
    for i, kind in enumerate(kinds):
        if kind in AGENT_KINDS:
            rounds = rng.randint(*mix.tool_rounds)
        elif kind is Kind.CONVERSATION:
            rounds = rng.randint(*mix.conversation_turns)
        else:
            rounds = 1
        plans.append(
            Plan(
                index=i,
                kind=kind,
                rounds=rounds,
                abandon_after=rng.randint(1, max(1, rounds - 1)) if i in abandoned else None,
                feedback=i in judged,
                stream=kind is Kind.SINGLE_TURN and rng.random() < mix.stream_share,
                draw=rng.random(),
                prompt=rng.randrange(1 << 16),
            )
        )
    return plans
