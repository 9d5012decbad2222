"""The audit's task keys read a logged request exactly as the proxy's normaliser does (issue 30, speed).

`metering.audit.task_keys` makes the common message shapes into atoms itself, without `metering.task_atoms`'
general walk, so that grouping a log into tasks costs less per line. A shape read differently there would
silently split or merge tasks, so every shortcut is held to the general walk here: the same atoms, and the same
keys as the atoms of the general walk give. (The shortcuts are new: there is nothing for main to fail on; the
behaviour they must keep is main's.)
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from metering import task_atoms
from metering.audit import task_keys
from metering.audit.shape import malformed
from metering.audit.task_keys import HISTORY, RUNS, keys_of
from metering.task_atoms import chat_atoms, model_runs, responses_atoms

CALL = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"b": 1, "a": null}'}}
MESSAGES: list[Any] = [
    {"role": "system", "content": "Be brief."},
    {"role": "developer", "content": [{"type": "text", "text": "d"}]},
    {"role": "user", "content": "Where is my order?"},
    {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "u"}}]},
    {"role": "assistant", "content": "It shipped."},
    {"role": "assistant", "content": ""},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "assistant", "content": "Checking.", "tool_calls": [CALL, {**CALL, "id": 7}]},
    {"role": "assistant", "content": "<think>hm</think> Done.", "tool_calls": [CALL]},
    {"role": "assistant", "content": "<think>hm</think> Done."},
    {"role": "assistant", "content": False, "tool_calls": [CALL]},
    {"role": "assistant", "content": None, "tool_calls": []},
    {"role": "assistant", "content": None, "tool_calls": [CALL, "odd"]},
    {"role": "assistant", "content": "x", "tool_calls": None},
    {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{ }"}},
    {"role": "tool", "tool_call_id": "c1", "content": '{"status": "shipped"}'},
    {"role": "tool", "tool_call_id": 5, "content": "out"},
    {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "o"}]},
    {"role": "function", "name": "f", "content": "r"},
    {"role": "critic", "content": "x"},
    {"content": "no role"},
    "a bare string",
    None,
]
OUTPUTS: list[Any] = [
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a"}]},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a"}, {"type": "refusal"}]},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": ""}]},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "<think>x</think>y"}]},
    {"type": "message", "role": "user", "content": [{"type": "output_text", "text": "a"}]},
    {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": '{"a":1}'},
    {"type": "reasoning", "summary": []},
]


def general_keys(body: dict[str, Any], api: str, answer: Any) -> tuple[list[Any], list[Any] | None]:
    """The atoms of the history and of the answer as the general walk makes them."""
    atoms = responses_atoms(body.get("input")) if api == "responses" else chat_atoms(body.get("messages"))
    if not isinstance(answer, dict):
        return atoms, None
    if api == "responses":
        output = answer.get("output")
        return atoms, responses_atoms(output) if isinstance(output, list) else None
    message = answer["choices"][0]["message"]
    return atoms, chat_atoms([{**message, "role": "assistant"}])


def expected(body: dict[str, Any], api: str, answer: Any) -> tuple[int, int, tuple[int, ...]]:
    """history, answer and run digests as task_keys defines them, computed from the general walk's atoms."""
    atoms, replied = general_keys(body, api, answer)
    scoped = hash(("scope", None))
    ends, starts = model_runs(atoms)
    runs = [0] * (2 * RUNS)
    for k, end in enumerate(reversed(ends[-RUNS:])):
        runs[k] = hash((scoped, *atoms[:end])) or 1
    for k, start in enumerate(reversed(starts[-RUNS:])):
        runs[RUNS + k] = hash((scoped, *atoms[:start])) or 1
    answer_digest = (hash((scoped, *atoms, *replied)) or 1) if replied else 0
    return hash((scoped, *atoms)) or 1, answer_digest, tuple(runs)


@pytest.mark.parametrize("message", MESSAGES, ids=range(len(MESSAGES)))
def test_each_message_shape_makes_the_general_walks_atoms(message: Any) -> None:
    atoms, written = task_keys._chat_atoms([message])
    assert atoms == chat_atoms([message])
    assert written or not model_runs(atoms)[0]  # "none is the model's" is never said of a model's message


def test_histories_and_answers_of_every_shape_give_the_general_walks_keys() -> None:
    for first, second in itertools.product(MESSAGES, repeat=2):
        body = {"messages": [MESSAGES[2], first, second]}
        for answer_message in (first, second):
            if not isinstance(answer_message, dict):
                continue
            answer = {"choices": [{"message": answer_message}]}
            keys = keys_of(body, "chat", answer)
            assert (keys[HISTORY], keys[HISTORY + 1], keys[HISTORY + 2 :]) == expected(body, "chat", answer)


def test_the_structure_check_in_the_walk_refuses_what_the_check_alone_refuses() -> None:
    """`keys_of(..., check=True)` checks the structure in its walk of the messages where they all have the common
    shapes: it must refuse (None) exactly the bodies `malformed` refuses, and give the same keys otherwise."""
    bodies: list[dict[str, Any]] = [{"messages": []}, {"messages": "hi"}, {"messages": None}, {}]
    for first, second in itertools.product(MESSAGES, repeat=2):
        bodies.append({"messages": [MESSAGES[2], first, second]})
    for tools in (None, [], 5, [5], [{"type": "function", "function": {"name": "f"}}]):
        bodies += [{"messages": [MESSAGES[0], MESSAGES[2]], "tools": tools}, {"messages": [first], "tools": tools}]
    for items in ("Hi", "", 5, [5], [OUTPUTS[0]], [], None):
        bodies += [{"input": items}, {"input": items, "instructions": 5}, {"input": items, "tools": [5]}]
    for body in bodies:
        api = "responses" if "input" in body else "chat"
        checked = keys_of(body, api, None, None, True)
        if malformed(body, api):
            assert checked is None, body
        else:
            assert checked == keys_of(body, api), body


def test_responses_inputs_and_outputs_give_the_general_walks_keys() -> None:
    for items, output in itertools.product(
        ["Hi", "", [OUTPUTS[0], OUTPUTS[5]], None], itertools.permutations(OUTPUTS, 2)
    ):
        for answer in ({"id": "resp_1", "output": list(output)}, {"id": "resp_1", "output": [output[0]]}):
            body = {"input": items}
            keys = keys_of(body, "responses", answer)
            assert (keys[HISTORY], keys[HISTORY + 1], keys[HISTORY + 2 :]) == expected(body, "responses", answer)


def test_remembered_arguments_are_the_canonical_ones_whatever_the_spacing() -> None:
    """The audit uses the proxy's own canonical arguments (metering/task_atoms.py remembers short ones)."""
    spaced = {"name": "lookup", "arguments": '{ "b" : 1,  "a": null }'}
    tight = {"name": "lookup", "arguments": '{"a":null,"b":1}'}
    assert task_atoms.arguments(spaced) == task_atoms.arguments(tight) == task_atoms.arguments(spaced)
    assert task_atoms.arguments({"arguments": "not json "}) == "not json"
