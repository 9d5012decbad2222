"""The attempt walker, one row per rule: a scripted attempt function, a fake clock, no network."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import pytest

from router.serving.walker import (
    Kind,
    Move,
    Outcome,
    Position,
    Rules,
    Walked,
    backoff_s,
    judge,
    next_step,
    server_wait_s,
    walk,
)

WINDOWS = {"nano": 272_000, "mini": 272_000, "qwen": 262_000, "full": 1_050_000}
RULES = Rules(max_retries=2, retry_after_cap_s=20.0, windows=WINDOWS)

OK = Outcome.ok()
E500 = Outcome.http_error(500, None)
E503 = Outcome.http_error(503, None)
E408 = Outcome.http_error(408, None)
E409 = Outcome.http_error(409, None)
E400 = Outcome.http_error(400, "invalid_value")
RATE = Outcome.http_error(429, "rate_limit_exceeded")
QUOTA = Outcome.http_error(429, "insufficient_quota")
WINDOW = Outcome.http_error(400, "context_length_exceeded")
CUT = Outcome(Kind.NO_ANSWER, 502, "connect_error")
LATE = Outcome(Kind.DEADLINE, 504, "deadline")
BROKEN = Outcome(Kind.DEGRADED, 200, "bad_tool_json")
OPEN = Outcome(Kind.SKIPPED, reason="breaker_open", retry_after_s=7.5)


def hinted(status: int, **headers: str) -> Outcome:
    return Outcome.http_error(status, None, headers, now=0.0)


@dataclass
class Script:
    """The attempt function: each tier answers its outcomes in order (the last one repeats)."""

    outcomes: dict[str, list[Outcome]]
    skipped: dict[str, Outcome] = field(default_factory=dict)
    tried: list[str] = field(default_factory=list)
    slept: list[float] = field(default_factory=list)
    health: list[tuple[str, bool]] = field(default_factory=list)
    now: float = 0.0

    async def attempt(self, at: Position) -> Outcome:
        self.tried.append(at.tier)
        queue = self.outcomes[at.tier]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    async def skip(self, tier: str) -> Outcome | None:
        return self.skipped.get(tier)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def run(plan: list[str], script: Script, rules: Rules = RULES, deadline: float = 300.0):  # noqa: ANN201
    return await walk(
        plan,
        rules,
        deadline,
        script.attempt,
        script.skip,
        lambda tier, ok: script.health.append((tier, ok)),
        clock=lambda: script.now,
        sleep=script.sleep,
        rng=random.Random(0),
    )


# (rule, plan, outcomes by tier, tiers tried in order, the final move, its reason)
ROWS = [
    ("a usable answer is answered at once", ["nano", "mini"], {"nano": [OK]}, ["nano"], Move.ANSWER, "ok"),
    (
        "a 5xx is retried max_retries times, then the next tier serves",
        ["nano", "mini"],
        {"nano": [E500], "mini": [OK]},
        ["nano", "nano", "nano", "mini"],
        Move.ANSWER,
        "ok",
    ),
    (
        "a 5xx on the last tier, retries spent: give up",
        ["mini"],
        {"mini": [E503]},
        ["mini", "mini", "mini"],
        Move.GIVE_UP,
        "server_error",
    ),
    ("408 is retried", ["nano"], {"nano": [E408, OK]}, ["nano", "nano"], Move.ANSWER, "ok"),
    ("409 is retried", ["nano"], {"nano": [E409, OK]}, ["nano", "nano"], Move.ANSWER, "ok"),
    ("no HTTP answer at all is retried", ["nano"], {"nano": [CUT, OK]}, ["nano", "nano"], Move.ANSWER, "ok"),
    ("a rate limit is retried", ["nano"], {"nano": [RATE, OK]}, ["nano", "nano"], Move.ANSWER, "ok"),
    (
        "a quota 429 falls back at once",
        ["nano", "mini"],
        {"nano": [QUOTA], "mini": [OK]},
        ["nano", "mini"],
        Move.ANSWER,
        "ok",
    ),
    (
        "another 4xx is the client's: answered",
        ["nano", "mini"],
        {"nano": [E400]},
        ["nano"],
        Move.ANSWER,
        "client_error",
    ),
    (
        "a degraded answer is redone on the next tier",
        ["nano", "mini"],
        {"nano": [BROKEN], "mini": [OK]},
        ["nano", "mini"],
        Move.ANSWER,
        "ok",
    ),
    (
        "a degraded answer on the last tier is answered as it is",
        ["mini"],
        {"mini": [BROKEN]},
        ["mini"],
        Move.ANSWER,
        "bad_tool_json",
    ),
    ("a passed deadline gives up", ["nano", "mini"], {"nano": [LATE]}, ["nano"], Move.GIVE_UP, "deadline"),
    (
        "a context-length error skips later tiers with no larger window",
        ["nano", "qwen", "full"],
        {"nano": [WINDOW], "full": [OK]},
        ["nano", "full"],
        Move.ANSWER,
        "ok",
    ),
    (
        "a context-length error with no larger tier in the plan adds the next larger one",
        ["nano", "mini"],
        {"nano": [WINDOW], "full": [OK]},
        ["nano", "full"],
        Move.ANSWER,
        "ok",
    ),
    (
        "a retry-after beyond the cap falls back instead of waiting",
        ["nano", "mini"],
        {"nano": [hinted(429, **{"retry-after": "60"})], "mini": [OK]},
        ["nano", "mini"],
        Move.ANSWER,
        "ok",
    ),
    (
        "an unreadable retry-after-ms is ignored and retry-after read: 60 s is beyond the cap, so fall back",
        ["nano", "mini"],
        {"nano": [hinted(429, **{"retry-after-ms": "soon", "retry-after": "60"})], "mini": [OK]},
        ["nano", "mini"],
        Move.ANSWER,
        "ok",
    ),
]


@pytest.mark.parametrize(("rule", "plan", "outcomes", "tried", "move", "reason"), ROWS, ids=[r[0] for r in ROWS])
async def test_walker_rule(
    rule: str, plan: list[str], outcomes: dict[str, list[Outcome]], tried: list[str], move: Move, reason: str
) -> None:
    script = Script({tier: list(queue) for tier, queue in outcomes.items()})
    walked = await run(plan, script)
    assert script.tried == tried
    assert (walked.last.step.move, walked.last.step.reason) == (move, reason)


async def test_the_server_wait_is_honoured_up_to_the_cap() -> None:
    script = Script({"nano": [hinted(429, **{"retry-after-ms": "1500"}), hinted(503, **{"retry-after": "2"}), OK]})
    await run(["nano"], script)
    assert script.slept == [1.5, 2.0]


async def test_a_retry_after_date_is_a_wait() -> None:
    script = Script({"nano": [hinted(429, **{"retry-after": "Thu, 01 Jan 1970 00:00:03 GMT"}), OK]})
    await run(["nano"], script)
    assert script.slept == [3.0]


async def test_without_a_hint_the_wait_is_the_sdk_backoff() -> None:
    script = Script({"nano": [E500, E500, OK]})
    await run(["nano"], script)
    assert 0.375 <= script.slept[0] <= 0.5 and 0.75 <= script.slept[1] <= 1.0


def test_backoff_follows_the_sdk_formula_with_jitter() -> None:
    rng = random.Random(1)
    for n, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        assert 0.75 * ceiling <= backoff_s(n, rng) <= ceiling


async def test_a_retry_that_would_pass_the_deadline_falls_back_instead() -> None:
    script = Script({"nano": [hinted(429, **{"retry-after": "5"})], "mini": [OK]})
    await run(["nano", "mini"], script, deadline=3.0)
    assert script.tried == ["nano", "mini"] and script.slept == []


async def test_no_fallback_once_the_deadline_has_passed() -> None:
    script = Script({"nano": [QUOTA], "mini": [OK]})
    walked = await run(["nano", "mini"], script, deadline=0.0)
    assert script.tried == ["nano"]
    assert (walked.last.step.move, walked.last.step.reason) == (Move.GIVE_UP, "deadline")


async def test_an_open_breaker_skips_its_tier_without_an_attempt() -> None:
    script = Script({"mini": [OK]}, skipped={"nano": OPEN})
    walked = await run(["nano", "mini"], script)
    assert script.tried == ["mini"]
    assert [(t.tier, t.step.move) for t in walked.turns] == [("nano", Move.FALLBACK), ("mini", Move.ANSWER)]
    assert script.health == [("mini", True)]  # a skipped tier's breaker hears nothing


async def test_every_tier_skipped_gives_up_with_the_soonest_cooldown() -> None:
    soon = Outcome(Kind.SKIPPED, reason="breaker_open", retry_after_s=2.0)
    script = Script({}, skipped={"nano": OPEN, "mini": soon})
    walked = await run(["nano", "mini"], script)
    assert script.tried == [] and not walked.attempted
    assert walked.last.step.move is Move.GIVE_UP
    assert walked.retry_after_s() == 2.0


async def test_a_context_length_error_with_the_plan_held_gives_up() -> None:
    script = Script({"nano": [WINDOW], "full": [OK]})
    walked = await run(["nano"], script, rules=Rules(2, 20.0, WINDOWS, grow=False))
    assert script.tried == ["nano"] and walked.last.step.move is Move.GIVE_UP


@pytest.mark.parametrize(
    ("outcome", "healthy"),
    [
        (OK, True),
        (RATE, True),  # a rate limit is not ill health: it never opens the breaker
        (QUOTA, True),
        (WINDOW, True),
        (E400, True),
        (BROKEN, True),
        (E500, False),
        (E408, False),
        (CUT, False),
        (LATE, False),
    ],
)
def test_which_outcomes_count_against_the_breaker(outcome: Outcome, healthy: bool) -> None:
    assert judge(outcome)[2] is healthy


async def test_persistent_rate_limits_never_tell_the_breaker_of_ill_health() -> None:
    script = Script({"nano": [RATE], "mini": [RATE]})
    await run(["nano", "mini"], script)
    assert len(script.health) == 6 and all(ok for _, ok in script.health)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "soon", "retry-after": "60"}, 60.0),
        ({"retry-after": "-1"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "not a date"}, None),
        ({"retry-after": "Thu, 01 Jan 1970 00:00:10 GMT"}, 10.0),
        ({}, None),
    ],
)
def test_server_wait_reads_what_it_can(headers: dict[str, str], seconds: float | None) -> None:
    assert server_wait_s(headers, now=0.0) == seconds


def test_a_step_names_where_the_next_attempt_goes() -> None:
    step = next_step(Position(("nano", "mini")), E500, RULES, now=0.0, deadline=10.0, rng=random.Random(0))
    assert step.move is Move.RETRY and step.position == Position(("nano", "mini"), 0, 1)
    assert 0.375 <= step.wait_s <= 0.5


async def test_a_walk_cut_short_keeps_the_turns_it_made() -> None:
    """The client left while routetax waited to retry: the record still says a retry was under way."""

    async def cancelled(_seconds: float) -> None:
        raise asyncio.CancelledError

    walked = Walked([])
    with pytest.raises(asyncio.CancelledError):
        await walk(
            ["nano"], RULES, 300.0, Script({"nano": [E500]}).attempt, into=walked, sleep=cancelled, clock=lambda: 0.0
        )
    assert [(turn.tier, turn.step.move) for turn in walked.turns] == [("nano", Move.RETRY)]
