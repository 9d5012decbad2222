"""A caller that replays the same texts (`routetax audit` reading a log) can have each read once (issue 30).

Reading a system prompt for a protocol is most of what classifying a request without tools costs, and a log
repeats its applications' few prompts on every line; each step of a conversation repeats its first user turn.
`remember_instructions()` keeps each prompt's and each first user turn's reading across classifications; the decisions
must be exactly those of reading every text afresh. (New on this branch:
on main there is nothing to remember with, and these tests fail at the import.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from classifier import remember_instructions, text
from classifier.core import classify_with_rule

CORPUS = Path(__file__).resolve().parent.parent / "classifier" / "data" / "routetax-corpus.jsonl"
REACT = (
    "Answer the question using the tools below.\nsearch: looks things up\n\nUse this format:\nThought: think\n"
    "Action: the tool to use\nAction Input: its input\nObservation: the result\n... (repeat)\nFinal Answer: the answer"
)

BILLING = "You answer billing questions."


@pytest.fixture(autouse=True)
def _forget() -> Any:
    remember_instructions(False)
    yield
    remember_instructions(False)


def bodies() -> list[tuple[dict[str, Any], str]]:
    rows = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    return [(row["request"], "responses" if "input" in row["request"] else "chat") for row in rows]


def decisions(rows: list[tuple[dict[str, Any], str]]) -> list[tuple[Any, ...]]:
    out = []
    for body, api in rows:
        decision, rule = classify_with_rule(json.loads(json.dumps(body)), api)  # a fresh body, as a log line is
        out.append((decision.label, decision.confidence, decision.reasons, rule))
    return out


def test_remembered_readings_decide_exactly_as_reading_afresh() -> None:
    rows = bodies()
    afresh = decisions(rows)
    remember_instructions()
    assert decisions(rows) == afresh  # each prompt read the first time
    assert decisions(rows) == afresh  # and every one remembered
    assert decisions(rows[::-1]) == afresh[::-1]  # in another order: other prompts came before each


def test_a_system_prompt_seen_before_is_not_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    real = text.defines_protocol

    def counted(prompt: str, *args: Any, **kwargs: Any) -> str | None:
        reads.append(prompt)
        return real(prompt, *args, **kwargs)

    monkeypatch.setattr(text, "defines_protocol", counted)
    chat = {"messages": [{"role": "system", "content": BILLING}, {"role": "user", "content": "Hi"}]}
    agent = {"messages": [{"role": "system", "content": REACT}, {"role": "user", "content": "Weather in Oslo?"}]}
    remember_instructions()
    first = [classify_with_rule(json.loads(json.dumps(body)))[0] for body in (chat, agent)]
    reads.clear()
    again = [classify_with_rule(json.loads(json.dumps(body)))[0] for body in (chat, agent)]
    assert REACT not in reads and BILLING not in reads
    assert again == first
    assert [d.label for d in again] == ["single_turn", "agentic"]
    remember_instructions(False)  # off again: every prompt is read as it comes, as in the proxy
    classify_with_rule(json.loads(json.dumps(chat)))
    assert BILLING in reads


TEMPLATE = "You are an agent. Use this format:\nThought: think\nAction: search[query]\nObservation: the result"
TASK = (
    "Please solve this issue: add() subtracts.\n\nYou can execute bash commands and edit files.\n" + "Be careful. " * 40
)


def test_a_user_turn_seen_before_is_not_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A conversation's first user turn (an agent's task, a template) comes back on every step: read once."""
    reads: list[str] = []
    real = text._user_template

    def counted(turn: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(turn)
        return real(turn, *args, **kwargs)

    monkeypatch.setattr(text, "_user_template", counted)
    steps = [
        {"messages": [{"role": "user", "content": first}, *[{"role": "user", "content": "go on"}] * n]}
        for first in (TEMPLATE, TASK, "What is the capital of Peru?")
        for n in range(3)
    ]
    afresh = [classify_with_rule(json.loads(json.dumps(body))) for body in steps]
    assert len(reads) == len(steps)  # off (the proxy): every first turn is read as it comes
    remember_instructions()
    reads.clear()
    assert [classify_with_rule(json.loads(json.dumps(body))) for body in steps] == afresh
    assert sorted(reads) == sorted([TEMPLATE, TASK, "What is the capital of Peru?"])  # once each
    assert [d.label for d, _ in afresh[::3]] == ["agentic", "agentic", "single_turn"]


def test_remembered_prompts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    remember_instructions()
    for n in range(3 * text.READINGS):
        classify_with_rule(
            {"messages": [{"role": "system", "content": f"Prompt {n}."}, {"role": "user", "content": "Hi"}]}
        )
    assert text._readings is not None
    assert len(text._readings.new) + len(text._readings.old) <= 2 * text.READINGS
    monkeypatch.setattr(text, "READING_BUDGET", 10_000)  # and at most so many characters a generation
    for n in range(20):
        classify_with_rule(
            {"messages": [{"role": "system", "content": f"{n:04} " + "y" * 2000}, {"role": "user", "content": "Hi"}]}
        )
    assert sum(map(len, text._readings.new)) <= 10_000 + 2005 and sum(map(len, text._readings.old)) <= 10_000 + 2005
    long = "x" * (text.READING_CHARS + 1)
    classify_with_rule({"messages": [{"role": "system", "content": long}, {"role": "user", "content": "Hi"}]})
    assert long not in text._readings.new  # longer ones are read as they come
    assert text._user_readings is not None
    for n in range(3 * text.READINGS):  # user turns alike
        classify_with_rule({"messages": [{"role": "user", "content": f"Question {n}?"}]})
    assert len(text._user_readings.new) + len(text._user_readings.old) <= 2 * text.READINGS
    classify_with_rule({"messages": [{"role": "user", "content": long}]})
    assert long not in text._user_readings.new and long not in text._user_readings.old


def test_the_audit_forgets_the_prompts_when_it_has_read_the_logs(tmp_path: Path) -> None:
    from metering.audit.formats import Format
    from metering.audit.scan import ScanOptions, scan
    from metering.audit.sources import Source

    log = tmp_path / "bodies.jsonl"
    log.write_text(json.dumps({"messages": [{"role": "system", "content": REACT}, {"role": "user", "content": "Q"}]}))
    tally = scan([Source(str(log))], ScanOptions(Format.AUTO))
    assert tally.agentic == 1
    assert text._readings is None and text._user_readings is None
