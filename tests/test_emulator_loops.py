"""The emulated model's agent loops: as many tool rounds as the conversation asks, and the ReAct text protocol.

The demo's agent tasks are real tool loops only if the upstream keeps asking for tools for several rounds; the
emulator decides that from the conversation's first user message (`[N tool rounds]`), through OpenAI's own
protocol, so any client (the openai SDK here) drives it as it would drive a real model.
"""

from __future__ import annotations

import orjson
from openai import OpenAI

from emulator.loops import react_answer, react_tools, rounds_done, wanted_rounds
from router.servers import RunningServer

TOOLS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {}}}}
    for name in ("search", "refund")
]
REACT = (
    "Use this format:\nThought: ...\nAction: the tool, written tool[input], one of [search, refund]\n"
    "Observation: the result\nFinal Answer: the answer"
)


def client(emulator: RunningServer) -> OpenAI:
    return OpenAI(base_url=f"{emulator.url}/v1", api_key="x", max_retries=0)


def test_a_conversation_gets_the_tool_rounds_its_first_user_message_asks_for() -> None:
    asks = [{"role": "user", "content": "Refund order 7 [3 tool rounds]"}]
    assert wanted_rounds(asks) == 3 and wanted_rounds([{"role": "user", "content": "Hi"}]) == 1
    two_rounds = [
        *asks,
        {"role": "assistant", "tool_calls": [{"id": "a"}]},
        {"role": "tool", "tool_call_id": "a", "content": "{}"},
        {"role": "assistant", "tool_calls": [{"id": "b"}]},
        {"role": "tool", "tool_call_id": "b", "content": "{}"},
    ]
    assert rounds_done(two_rounds) == 2
    # a new user turn starts its own rounds
    assert (
        rounds_done([*two_rounds, {"role": "assistant", "content": "done"}, {"role": "user", "content": "More"}]) == 0
    )


def test_the_text_protocol_acts_until_its_rounds_are_done_then_answers() -> None:
    tools = react_tools(REACT)
    assert tools == ["search", "refund"] and react_tools("You are helpful.") is None
    items: list[dict] = [{"role": "user", "content": "Question: refund order 7 [2 tool rounds]"}]
    first = react_answer(tools, items, "ok")
    assert "Action: search[" in first
    items += [{"role": "assistant", "content": first}, {"role": "user", "content": "Observation: {}"}]
    second = react_answer(tools, items, "ok")
    assert "Action: refund[" in second  # the next tool in turn: not the same call again
    items += [{"role": "assistant", "content": second}, {"role": "user", "content": "Observation: {}"}]
    assert react_answer(tools, items, "All done.").endswith("Final Answer: All done.")


def test_a_chat_tool_loop_runs_the_rounds_asked_with_a_new_call_id_each_time(emulator: RunningServer) -> None:
    messages: list[dict] = [{"role": "user", "content": "Refund order 7 [3 tool rounds]"}]
    names, ids = [], []
    for _ in range(6):
        message = client(emulator).chat.completions.create(model="gpt-5.4-mini", messages=messages, tools=TOOLS)
        message = message.choices[0].message
        if not message.tool_calls:
            break
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            names.append(call.function.name)
            ids.append(call.id)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": orjson.dumps({"ok": 1}).decode()})
    assert names == ["search", "refund", "search"] and len(set(ids)) == 3
    assert message.content  # then it answers in text


def test_without_a_marker_a_tool_result_is_answered_in_text_as_before(emulator: RunningServer) -> None:
    messages: list[dict] = [{"role": "user", "content": "Refund order 7"}]
    first = client(emulator).chat.completions.create(model="gpt-5.4-mini", messages=messages, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "{}"},
    ]
    second = client(emulator).chat.completions.create(model="gpt-5.4-mini", messages=messages, tools=TOOLS)
    assert second.choices[0].message.tool_calls is None and second.choices[0].message.content


def test_a_react_loop_over_chat_acts_then_gives_a_final_answer(emulator: RunningServer) -> None:
    messages: list[dict] = [
        {"role": "system", "content": REACT},
        {"role": "user", "content": "Question: refund order 7 [2 tool rounds]"},
    ]
    answers = []
    for _ in range(4):
        text = client(emulator).chat.completions.create(model="gpt-5.4-nano", messages=messages)
        text = text.choices[0].message.content or ""
        answers.append(text)
        if "Final Answer:" in text:
            break
        messages += [{"role": "assistant", "content": text}, {"role": "user", "content": "Observation: found"}]
    assert ["Action:" in a for a in answers] == [True, True, False] and "Final Answer:" in answers[-1]


def test_a_responses_loop_sending_the_full_input_runs_the_rounds_asked(emulator: RunningServer) -> None:
    tools = [
        {"type": "function", "name": t["function"]["name"], "parameters": t["function"]["parameters"]} for t in TOOLS
    ]
    items: list[dict] = [{"role": "user", "content": "Refund order 7 [2 tool rounds]"}]
    call_ids = []
    for _ in range(4):
        response = client(emulator).responses.create(model="gpt-5.4-mini", input=items, tools=tools)
        calls = [o for o in response.output if o.type == "function_call"]
        if not calls:
            break
        items += [o.model_dump(exclude_none=True) for o in response.output]
        items += [{"type": "function_call_output", "call_id": c.call_id, "output": "{}"} for c in calls]
        call_ids += [c.call_id for c in calls]
    assert len(call_ids) == 2 == len(set(call_ids)) and response.output_text
