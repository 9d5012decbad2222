"""Tasks through the official openai SDK: every answer names its task, the same for every step of a task.

Tool loops run as applications run them — the SDK's own message objects appended (`model_dump(exclude_none=
True)`), tool results sent back — on chat and Responses, JSON and streamed, several tasks at once, without the
header; then the header, its end, `previous_response_id`, per-task exploration, `tasks.enabled: false`, and
two replicas on one Redis.
"""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
import redis
from openai import OpenAI

from demo.world import demo_config
from metering.record import TaskClassReason, TaskSource
from router.config import Config
from router.servers import RunningServer
from router.tasks.shared import PREFIX
from tests.conftest import durable_config
from tests.redis_server import RedisServer
from tests.test_proxy_acceptance import TOOLS, records
from tests.test_responses_api import FUNCTION_TOOLS
from tests.waiting import wait_until

TASK = "x-routetax-task"


def configured(upstream: str, **sections: Any) -> Config:
    data = demo_config(upstream).model_dump()
    data.update(sections)
    return Config.model_validate(data)


def client_for(proxy: RunningServer) -> OpenAI:
    return OpenAI(base_url=f"{proxy.url}/v1", api_key="x", max_retries=0, timeout=20)


def chat_tool_loop(client: OpenAI, city: str, stream: bool = False, **extra: Any) -> list[str]:
    """Ask, run the tool the model calls, send its result back, then one more user turn: the task ids seen."""
    messages: list[Any] = [
        {"role": "system", "content": "Use the tools."},
        {"role": "user", "content": f"Weather in {city}?"},
    ]
    seen = []
    for turn in range(3):
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=messages, tools=TOOLS, stream=stream, **extra
        )
        seen.append(raw.headers[TASK])
        message = (
            _streamed_message(raw.parse()) if stream else raw.parse().choices[0].message.model_dump(exclude_none=True)
        )
        messages.append(message)
        if message.get("tool_calls"):
            for call in message["tool_calls"]:
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps({"temp_c": 18})})
        else:
            messages.append({"role": "user", "content": f"And tomorrow in {city}?"})
        assert turn < 2 or True
    return seen


def _streamed_message(stream: Any) -> dict[str, Any]:
    text, calls = [], {}
    for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                text.append(choice.delta.content)
            for part in choice.delta.tool_calls or ():
                call = calls.setdefault(
                    part.index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
                )
                call["id"] = part.id or call["id"]
                call["function"]["name"] += part.function.name or ""
                call["function"]["arguments"] += part.function.arguments or ""
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return message


def responses_tool_loop(client: OpenAI, city: str, stream: bool = False) -> list[str]:
    """The Agents SDK's default: the whole input every turn, the output items appended as they came."""
    items: list[Any] = [{"role": "user", "content": f"Weather in {city}?"}]
    seen = []
    for _ in range(3):
        raw = client.responses.with_raw_response.create(model="auto", input=items, tools=FUNCTION_TOOLS, stream=stream)
        seen.append(raw.headers[TASK])
        if stream:
            response = next(event.response for event in raw.parse() if event.type == "response.completed")
        else:
            response = raw.parse()
        outputs = [item.model_dump(exclude_none=True) for item in response.output]
        items.extend(outputs)
        calls = [item for item in outputs if item["type"] == "function_call"]
        for call in calls:
            items.append({"type": "function_call_output", "call_id": call["call_id"], "output": '{"temp_c": 4}'})
        if not calls:
            items.append({"role": "user", "content": "Thanks. And tomorrow?"})
    return seen


def assert_one_task_each(runs: list[list[str]]) -> None:
    for seen in runs:
        assert len(set(seen)) == 1, seen  # no split
    assert len({seen[0] for seen in runs}) == len(runs)  # no merge


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_concurrent_chat_tool_loops_each_keep_one_task_id(
    emulator: RunningServer, start_proxy: Callable[[Config], RunningServer], stream: bool
) -> None:
    proxy = start_proxy(configured(emulator.url))
    client = client_for(proxy)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        runs = list(pool.map(lambda i: chat_tool_loop(client, "Paris", stream), range(12)))  # identical starts
    assert_one_task_each(runs)
    by_task: dict[str, list] = {}
    for record in records(proxy, 36):
        by_task.setdefault(record.task_id, []).append(record)
    assert len(by_task) == 12
    for steps in by_task.values():
        steps.sort(key=lambda r: r.task_step)
        assert [r.task_step for r in steps] == [1, 2, 3]
        assert [r.task_source for r in steps] == [TaskSource.NEW, TaskSource.CONTINUATION, TaskSource.CONTINUATION]
        assert all(r.task_class == "agentic" for r in steps)
        assert steps[0].answer_calls is not None and steps[1].answer_calls is None


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_responses_tool_loops_sending_their_whole_input_each_keep_one_task_id(
    emulator: RunningServer, start_proxy: Callable[[Config], RunningServer], stream: bool
) -> None:
    proxy = start_proxy(configured(emulator.url))
    client = client_for(proxy)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda i: responses_tool_loop(client, "Oslo", stream), range(6)))
    assert_one_task_each(runs)


def test_a_previous_response_id_chain_is_one_task(emulator: RunningServer, start_proxy) -> None:
    proxy = start_proxy(configured(emulator.url))
    client = client_for(proxy)
    first = client.responses.with_raw_response.create(model="auto", input="Hello there")
    second = client.responses.with_raw_response.create(
        model="auto", input="And again?", previous_response_id=first.parse().id
    )
    third = client.responses.with_raw_response.create(
        model="auto", input="Once more", previous_response_id=second.parse().id, stream=True
    )
    for _ in third.parse():
        pass
    assert first.headers[TASK] == second.headers[TASK] == third.headers[TASK]
    steps = sorted(records(proxy, 3), key=lambda r: r.task_step)
    assert [(r.task_step, r.task_source) for r in steps] == [
        (1, TaskSource.NEW),
        (2, TaskSource.RESPONSE_CHAIN),
        (3, TaskSource.RESPONSE_CHAIN),
    ]


def test_the_task_header_names_the_task_and_the_end_header_ends_it(emulator: RunningServer, start_proxy) -> None:
    proxy = start_proxy(configured(emulator.url))
    client = client_for(proxy)
    hello = [{"role": "user", "content": "Say hello."}]
    one = client.chat.completions.with_raw_response.create(model="auto", messages=hello, extra_headers={TASK: "run 42"})
    other_history = [{"role": "user", "content": "A different agent's own history."}]
    two = client.chat.completions.with_raw_response.create(
        model="auto", messages=other_history, extra_headers={TASK: "run 42", "x-routetax-task-end": "true"}, stream=True
    )
    for _ in two.parse():
        pass
    assert one.headers[TASK] == two.headers[TASK] == "run 42"
    first, last = sorted(records(proxy, 2), key=lambda r: r.task_step)
    assert (first.task_source, first.task_step, first.task_end) == (TaskSource.HEADER, 1, False)
    assert (last.task_step, last.task_end) == (2, True)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="auto", messages=hello, extra_headers={TASK: "x" * 201})
    assert caught.value.code == "invalid_header"


def test_a_refusal_after_the_task_is_known_still_names_it(emulator: RunningServer, start_proxy) -> None:
    proxy = start_proxy(configured(emulator.url))
    client = client_for(proxy)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.response.headers[TASK].startswith("task_")


def test_a_person_paced_conversation_stays_single_turn_and_a_tool_loop_turns_agentic(
    emulator: RunningServer, start_proxy
) -> None:
    proxy = start_proxy(configured(emulator.url))
    client = client_for(proxy)
    messages: list[Any] = [{"role": "user", "content": "Tell me about Paris."}]
    for question in ("And its museums?", "And the food?"):
        reply = client.chat.completions.create(model="auto", messages=messages).choices[0].message
        messages += [reply.model_dump(exclude_none=True), {"role": "user", "content": question}]
    client.chat.completions.create(model="auto", messages=messages)
    steps = sorted(records(proxy, 3), key=lambda r: r.task_step)
    assert len({r.task_id for r in steps}) == 1 and [r.task_step for r in steps] == [1, 2, 3]
    assert all(r.task_class == "single_turn" and r.task_class_reason is TaskClassReason.CLASSIFIER for r in steps)


REWOO_PLANNER = (
    'Write a plan for the task below as numbered evidence steps. Each line is one step: "Plan: <why>" followed by '
    '"#E<n> = <Tool>[<input>]". A later step may use an earlier result by its name (#E1).\n\n'
    "Tools:\nSearch[query] looks current facts up.\nLLM[instruction] reasons over text you give it.\n\n"
    "Task: Is it colder in Oslo or in Tromso today?"
)
REWOO_WORKER = [{"role": "user", "content": "Which is colder, given -3C, snow and -7C, clear?"}]


def test_a_rewoo_worker_is_routed_agentic_by_its_task_though_its_own_request_is_a_plain_question(
    emulator: RunningServer, start_proxy
) -> None:
    """A ReWOO worker's call is a fresh request holding one question with the plan's evidence substituted: no
    tools, no history, no grammar — one request cannot tell it from a person's (docs/classifier.md), and its
    history extends nothing, so only the run's task header makes it a step of the planner's task. Then it is
    routed where agentic work goes from the task's second step, the classifier's own view kept on the record."""
    proxy = start_proxy(configured(emulator.url))
    client = client_for(proxy)
    planner = [{"role": "user", "content": REWOO_PLANNER}]
    plan = client.chat.completions.with_raw_response.create(model="auto", messages=planner, extra_headers={TASK: "w1"})
    worker = client.chat.completions.with_raw_response.create(
        model="auto", messages=REWOO_WORKER, extra_headers={TASK: "w1"}
    )
    alone = client.chat.completions.with_raw_response.create(model="auto", messages=REWOO_WORKER)
    assert plan.headers["x-routetax-class"] == "agentic"
    assert worker.headers["x-routetax-class"] == alone.headers["x-routetax-class"] == "single_turn"
    assert worker.headers["x-routetax-tier"] == plan.headers["x-routetax-tier"] == "mini"
    assert alone.headers["x-routetax-tier"] == "nano"
    by_id = {r.task_id: r for r in records(proxy, 3) if r.task_step == 2}
    step = by_id[worker.headers[TASK]]
    assert (step.label, step.task_class, step.task_class_reason) == (
        "single_turn",
        "agentic",
        TaskClassReason.EARLIER_STEP,
    )


def test_every_step_of_an_explored_task_runs_on_its_arm(emulator: RunningServer, start_proxy) -> None:
    config = configured(emulator.url, policy={"explore": {"share": 0.5, "tiers": ["nano", "mini"], "seed": 5}})
    proxy = start_proxy(config)
    client = client_for(proxy)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        # 32 tasks: the draws are per task (random ids), so both arms and some routed tasks show but for ~1e-4
        list(pool.map(lambda i: chat_tool_loop(client, f"City {i}"), range(32)))
    by_task: dict[str, list] = {}
    for record in records(proxy, 96):
        by_task.setdefault(record.task_id, []).append(record)
    explored = [steps for steps in by_task.values() if steps[0].explored]
    assert explored and len(explored) < len(by_task)  # some tasks explored, some routed
    for steps in by_task.values():
        assert len({r.explored for r in steps}) == 1 and len({r.routed_tier for r in steps}) == 1
    assert {steps[0].routed_tier for steps in explored} == {"nano", "mini"}


def test_a_task_whose_first_step_named_its_tier_is_never_explored_later(emulator: RunningServer, start_proxy) -> None:
    config = configured(emulator.url, policy={"explore": {"share": 1.0, "tiers": ["nano", "mini"], "seed": 5}})
    client = client_for(start_proxy(config))
    messages: list[Any] = [{"role": "user", "content": "Tell me about Oslo."}]
    first = client.chat.completions.with_raw_response.create(model="mini", messages=messages)
    messages += [first.parse().choices[0].message.model_dump(exclude_none=True), {"role": "user", "content": "More?"}]
    for _ in range(3):  # `auto` from now on: every task would be explored (share 1), but this one was pinned
        later = client.chat.completions.with_raw_response.create(model="auto", messages=messages)
        assert later.headers[TASK] == first.headers[TASK]
        assert later.headers["x-routetax-tier"] == "nano"  # routed as its class says, not drawn
        messages += [later.parse().choices[0].message.model_dump(exclude_none=True), {"role": "user", "content": "?"}]


def test_tasks_off_means_no_header_and_no_task_fields(emulator: RunningServer, start_proxy) -> None:
    proxy = start_proxy(configured(emulator.url, tasks={"enabled": False}))
    raw = client_for(proxy).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hi"}], extra_headers={TASK: "ignored"}
    )
    assert TASK not in raw.headers
    [record] = records(proxy, 1)
    assert record.task_id is None and record.task_class is None


def test_two_replicas_on_one_redis_agree_on_the_task(
    redis_server: RedisServer, emulator: RunningServer, start_proxy, tmp_path: Path
) -> None:
    a = start_proxy(durable_config(emulator.url, redis_server.url, tmp_path / "a"))
    b = start_proxy(durable_config(emulator.url, redis_server.url, tmp_path / "b"))
    clients = [client_for(a), client_for(b)]
    store = redis.Redis.from_url(redis_server.url)
    messages: list[Any] = [{"role": "user", "content": "Weather in Rome?"}]
    seen = []
    for turn in range(4):  # the steps alternate between the replicas
        raw = clients[turn % 2].chat.completions.with_raw_response.create(model="auto", messages=messages, tools=TOOLS)
        seen.append(raw.headers[TASK])
        message = raw.parse().choices[0].message.model_dump(exclude_none=True)
        messages.append(message)
        for call in message.get("tool_calls") or ():
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": "sunny"})
        if not message.get("tool_calls"):
            messages.append({"role": "user", "content": "And tomorrow?"})
        # An agent's own pace (8-20 ms) covers the background write; a loaded test machine may not.
        wait_until(lambda n=turn + 1: sum(1 for _ in store.scan_iter(f"{PREFIX}a:*")) >= n, "the answer in Redis")
    assert len(set(seen)) == 1
    steps = sorted([*records(a, 2), *records(b, 2)], key=lambda r: r.task_step)
    assert [r.task_step for r in steps] == [1, 2, 3, 4]
    # A header task and a response chain move between replicas too.
    # (Each waits for the first replica's background write: a step sent to the other replica within the moment
    # that write takes is counted from what that replica knew.)
    header = {TASK: "shared-run"}
    clients[0].chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "one"}], extra_headers=header
    )
    wait_until(lambda: any(store.scan_iter(f"{PREFIX}n:*")), "the header task's state to reach Redis")
    clients[1].chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "two"}], extra_headers=header
    )
    first = clients[0].responses.create(model="auto", input="Hello")
    wait_until(lambda: store.exists(f"{PREFIX}p:{first.id}"), "the response's task to reach Redis")
    chained = clients[1].responses.with_raw_response.create(model="auto", input="Again", previous_response_id=first.id)
    later = records(b, 4)
    header_step = next(r for r in later if r.task_id == "shared-run")
    assert header_step.task_step == 2
    assert chained.headers[TASK] == next(r for r in records(a, 4) if r.api == "responses").task_id
