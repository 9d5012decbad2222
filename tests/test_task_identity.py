"""Task identity in process: which task a request is a step of, from what real SDKs and frameworks send back.

Each case follows what a framework was seen to send turn after turn: the openai SDK's `model_dump`, the
Agents SDK's handoff (new system message and tools), langgraph's re-serialised arguments and Responses items
without `status`, pydantic-ai's function calls without their `fc_` id, smolagents' tool calls rewritten as
text. Two tasks that start with identical requests stay two tasks; two continuations of one answer are both
that answer's task.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from metering.record import TaskClassReason, TaskSource
from metering.task_atoms import atom_digest, chain, chat_atoms, responses_atoms
from router.apis.chat import ChatApi
from router.apis.responses import ResponsesApi
from router.errors import ProxyError
from router.tasks import TaskContext, TaskIdentity, TaskIndex
from router.tasks.answer import AnswerAtoms, from_chat_json, from_chat_stream, from_responses_json
from router.tasks.index import Boundaries, History, seed

SYSTEM = {"role": "system", "content": "You are a helpful agent."}
ASK = {"role": "user", "content": "What is the weather in Paris?"}


def identity(max_entries: int = 1000) -> TaskIdentity:
    return TaskIdentity(TaskIndex(max_entries, idle_s=300), machine_pace_s=5.0)


def chat_answer(content: str | None = None, calls: list[tuple[str, str, str]] = ()) -> bytes:
    """A chat completion as the upstream sends it: nulls, refusal, annotations and all."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None, "annotations": []}
    if calls:
        message["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": args}} for cid, name, args in calls
        ]
    return orjson.dumps({"id": "chatcmpl-1", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})


def response_answer(response_id: str, output: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"id": response_id, "object": "response", "status": "completed", "output": output})


async def step(
    tasks: TaskIdentity, body: dict[str, Any], answer: AnswerAtoms | None, api: str = "chat", **headers: str
) -> TaskContext:
    context = await tasks.identify(body, api, {k.replace("_", "-"): v for k, v in headers.items()}, None)
    context.classify(False)
    if answer is not None:
        tasks.file(context, answer, "nano")
    return context


async def test_an_openai_sdk_loop_that_appends_model_dump_exclude_none_continues_the_task() -> None:
    tasks = identity()
    answer = chat_answer(None, [("call_Q1w2E3r4", "get_weather", '{"city":"Paris"}')])
    first = await step(tasks, {"messages": [SYSTEM, ASK]}, from_chat_json(answer))
    dumped = {  # ChatCompletionMessage.model_dump(exclude_none=True): no content, no refusal, no annotations
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_Q1w2E3r4",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    tool = {"role": "tool", "tool_call_id": "call_Q1w2E3r4", "content": "18 C, clear"}
    second = await step(tasks, {"messages": [SYSTEM, ASK, dumped, tool]}, from_chat_json(chat_answer("18 C in Paris.")))
    assert (second.task_id, second.source, second.step) == (first.task_id, TaskSource.CONTINUATION, 2)
    assert first.source is TaskSource.NEW and first.task_id.startswith("task_") and len(first.task_id) == 29


async def test_an_agents_sdk_handoff_that_replaces_the_system_message_and_tools_stays_in_the_task() -> None:
    tasks = identity()
    first = await step(
        tasks, {"messages": [SYSTEM, ASK], "tools": [{"type": "function"}]}, from_chat_json(chat_answer("Handing off."))
    )
    handed = [
        {"role": "system", "content": "You are the weather specialist."},
        ASK,
        {"role": "assistant", "content": "Handing off."},
        {"role": "user", "content": "Go on."},
    ]
    second = await step(tasks, {"messages": handed, "tools": []}, None)
    assert second.task_id == first.task_id and second.step == 2


async def test_langgraph_re_serialised_arguments_and_responses_items_without_status_continue_the_task() -> None:
    tasks = identity()
    answer = chat_answer(None, [("call_abcdef", "get_weather", '{"city":"x","unit":"c"}')])
    first = await step(tasks, {"messages": [ASK]}, from_chat_json(answer))
    resent = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_abcdef",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"unit": "c", "city": "x"}'},
            }
        ],
    }
    tool = {"role": "tool", "tool_call_id": "call_abcdef", "content": [{"type": "text", "text": "sunny"}]}
    second = await step(tasks, {"messages": [ASK, resent, tool]}, None)
    assert second.task_id == first.task_id

    output = [
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Which city?", "annotations": [], "logprobs": []}],
        },
    ]
    start = await step(
        tasks,
        {"input": [{"role": "user", "content": "Weather?"}]},
        from_responses_json(response_answer("resp_1", output)),
        api="responses",
    )
    again = [
        {"role": "system", "content": "travels as an input item"},
        {"role": "user", "content": "Weather?"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Which city?"}]},
        {"role": "user", "content": "Paris"},
    ]
    follow = await step(tasks, {"input": again}, None, api="responses")
    assert follow.task_id == start.task_id and follow.source is TaskSource.CONTINUATION


async def test_pydantic_ai_function_calls_without_their_fc_id_continue_the_task() -> None:
    tasks = identity()
    output = [
        {
            "type": "function_call",
            "id": "fc_9",
            "status": "completed",
            "call_id": "call_pyd123",
            "name": "lookup",
            "arguments": '{"q": "a"}',
        },
    ]
    first = await step(
        tasks, {"input": "Look up a."}, from_responses_json(response_answer("resp_2", output)), "responses"
    )
    resent = [
        {"role": "user", "content": "Look up a."},
        {"type": "function_call", "call_id": "call_pyd123", "name": "lookup", "arguments": '{"q":"a"}'},
        {"type": "function_call_output", "call_id": "call_pyd123", "output": "found"},
    ]
    second = await step(tasks, {"input": resent}, None, api="responses")
    assert second.task_id == first.task_id and second.step == 2 and second.loop


async def test_chat_and_responses_histories_of_the_same_exchange_read_the_same() -> None:
    chat = chat_atoms(
        [
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
            {
                "role": "assistant",
                "content": "Calling.",
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        ]
    )
    responses = responses_atoms(
        [
            {"role": "user", "content": "Hi"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Calling."}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": " { } "},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
        ]
    )
    assert chat == responses


async def test_smolagents_tool_calls_rewritten_as_text_with_observations_continue_the_task() -> None:
    tasks = identity()
    request = {"messages": [SYSTEM, ASK]}
    calls = [("call_smol0001", "get_weather", '{"city": "Paris"}'), ("call_smol0002", "get_time", "{}")]
    first = await step(tasks, request, from_chat_json(chat_answer(None, calls)))
    rewritten = {
        "role": "assistant",
        "content": "Calling tools:\n[{'id': 'call_smol0002', 'type': 'function', 'function': {'name': 'get_time', "
        "'arguments': {}}}, {'id': 'call_smol0001', 'type': 'function', 'function': {'name': 'get_weather', "
        "'arguments': {'city': 'Paris'}}}]",
    }
    observation = {"role": "user", "content": "Observation:\n18 C\n12:00"}
    second = await step(
        tasks, {"messages": [SYSTEM, ASK, rewritten, observation]}, from_chat_json(chat_answer("Final answer: 18 C."))
    )
    assert (second.task_id, second.step, second.loop) == (first.task_id, 2, True)
    third = await step(
        tasks,
        {
            "messages": [
                SYSTEM,
                ASK,
                rewritten,
                observation,
                {"role": "assistant", "content": "Final answer: 18 C."},
                {"role": "user", "content": "Thanks"},
            ]
        },
        None,
    )
    assert third.task_id == first.task_id and third.step == 3


async def test_two_tasks_with_identical_first_requests_are_never_merged() -> None:
    tasks = identity()
    request = {"messages": [SYSTEM, ASK]}
    a = await tasks.identify(request, "chat", {}, None)
    b = await tasks.identify(request, "chat", {}, None)  # concurrent: neither answered yet
    assert a.task_id != b.task_id and a.source is b.source is TaskSource.NEW
    for context, call_id in ((a, "call_aaaaaaaa"), (b, "call_bbbbbbbb")):
        context.classify(False)
        tasks.file(context, from_chat_json(chat_answer(None, [(call_id, "get_weather", '{"city":"Paris"}')])), "nano")
    for context, call_id in ((a, "call_aaaaaaaa"), (b, "call_bbbbbbbb")):
        call = {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
        follow = [
            SYSTEM,
            ASK,
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call_id, "content": "x"},
        ]
        assert (await tasks.identify({"messages": follow}, "chat", {}, None)).task_id == context.task_id
    # Text-only answers tell them apart too, and the smolagents-style lookup needs the right marks.
    rewritten = {"role": "assistant", "content": "Calling tools: [{'id': 'call_bbbbbbbb'}]"}
    follow = [SYSTEM, ASK, rewritten, {"role": "user", "content": "Observation: x"}]
    assert (await tasks.identify({"messages": follow}, "chat", {}, None)).task_id == b.task_id


async def test_two_continuations_of_one_answer_are_both_that_task() -> None:
    tasks = identity()
    first = await step(tasks, {"messages": [ASK]}, from_chat_json(chat_answer("It is sunny in Paris today.")))
    history = [ASK, {"role": "assistant", "content": "It is sunny in Paris today."}]
    left = await step(tasks, {"messages": [*history, {"role": "user", "content": "And tomorrow?"}]}, None)
    right = await step(tasks, {"messages": [*history, {"role": "user", "content": "And in Rome?"}]}, None)
    assert left.task_id == right.task_id == first.task_id and left.step == right.step == 2


async def test_the_longest_answered_prefix_wins_and_a_history_routetax_never_answered_is_a_new_task() -> None:
    tasks = identity()
    first = await step(tasks, {"messages": [ASK]}, from_chat_json(chat_answer("Sunny, 18 degrees in Paris.")))
    h2 = [ASK, {"role": "assistant", "content": "Sunny, 18 degrees in Paris."}, {"role": "user", "content": "Rome?"}]
    second = await step(tasks, {"messages": h2}, from_chat_json(chat_answer("Rainy, 12 degrees in Rome.")))
    h3 = [*h2, {"role": "assistant", "content": "Rainy, 12 degrees in Rome."}, {"role": "user", "content": "Oslo?"}]
    third = await step(tasks, {"messages": h3}, None)
    assert first.task_id == second.task_id == third.task_id and third.step == 3
    forged = [ASK, {"role": "assistant", "content": "Something routetax never said."}, {"role": "user", "content": "?"}]
    assert (await step(tasks, {"messages": forged}, None)).source is TaskSource.NEW
    other_key = await tasks.identify({"messages": h3}, "chat", {}, "another-key")
    assert other_key.source is TaskSource.NEW  # histories are compared within one client key


async def test_the_task_header_names_the_task_and_bad_values_are_refused() -> None:
    tasks = identity()
    one = await step(
        tasks, {"messages": [ASK]}, from_chat_json(chat_answer("ok then, here it is")), x_routetax_task="run-7"
    )
    two = await step(tasks, {"messages": [{"role": "user", "content": "unrelated"}]}, None, x_routetax_task="run-7")
    assert (one.task_id, one.source, one.step) == ("run-7", TaskSource.HEADER, 1)
    assert (two.task_id, two.step) == ("run-7", 2)  # agents with separate histories: one task by the header
    for bad in ("", "x" * 201, "tab\there", " padded"):
        with pytest.raises(ProxyError) as caught:
            await tasks.identify({"messages": [ASK]}, "chat", {"x-routetax-task": bad}, None)
        assert caught.value.refusal.value[0] == "invalid_header"


async def test_a_response_chain_and_a_conversation_are_followed() -> None:
    tasks = identity()
    output = [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello there."}]}]
    first = await step(tasks, {"input": "Hi"}, from_responses_json(response_answer("resp_A", output)), "responses")
    chained = await step(
        tasks,
        {"input": "Again", "previous_response_id": "resp_A"},
        from_responses_json(response_answer("resp_B", output)),
        "responses",
    )
    third = await step(tasks, {"input": "More", "previous_response_id": "resp_B"}, None, "responses")
    assert first.task_id == chained.task_id == third.task_id
    assert (chained.source, chained.step, third.step) == (TaskSource.RESPONSE_CHAIN, 2, 3)
    c1 = await step(
        tasks, {"input": "Hi", "conversation": "conv_1"}, from_responses_json(response_answer("r", output)), "responses"
    )
    c2 = await step(tasks, {"input": "Hi", "conversation": {"id": "conv_1"}}, None, "responses")
    assert c1.task_id == c2.task_id and (c1.source, c2.step) == (TaskSource.CONVERSATION, 2)


async def test_a_task_that_became_agentic_stays_agentic_and_says_why() -> None:
    tasks = identity()
    call = ("call_loop0001", "run", '{"cmd": "ls"}')
    first = await tasks.identify({"messages": [ASK]}, "chat", {}, None)
    assert first.classify(False) == (False, TaskClassReason.CLASSIFIER)
    tasks.file(first, from_chat_json(chat_answer(None, [call])), "nano")
    msg = {
        "role": "assistant",
        "tool_calls": [{"id": call[0], "type": "function", "function": {"name": "run", "arguments": call[2]}}],
    }
    h2 = [ASK, msg, {"role": "tool", "tool_call_id": call[0], "content": "a.txt"}]
    second = await tasks.identify({"messages": h2}, "chat", {}, None)
    assert second.classify(False) == (True, TaskClassReason.LOOP_SIGNAL)
    tasks.file(second, from_chat_json(chat_answer("There is one file, a.txt.")), "nano")
    h3 = [*h2, {"role": "assistant", "content": "There is one file, a.txt."}, {"role": "user", "content": "Thanks!"}]
    third = await tasks.identify({"messages": h3}, "chat", {}, None)
    assert third.classify(False) == (True, TaskClassReason.EARLIER_STEP)


async def test_a_streamed_answer_files_like_its_json_form() -> None:
    streamed = from_chat_stream(
        "", [{"id": "call_s1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}]
    )
    whole = from_chat_json(chat_answer(None, [("call_s1", "f", '{"a": 1}')]))
    assert whole is not None and streamed.atoms == whole.atoms and streamed.calls == whole.calls is not None


def test_an_answer_filed_from_the_degraded_checks_parse_is_the_answer_filed_from_its_bytes() -> None:
    """The proxy files a JSON answer from the parse its degraded check made; the next step must find it the same."""
    chat = ChatApi()
    request = {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}
    for content in (chat_answer(None, [("call_p1", "f", '{"b": 2, "a": 1}')]), chat_answer("Done: one file.")):
        reason, parsed = chat.degraded(request, content)
        assert reason is None and parsed is not None
        assert chat.answer_atoms(content, parsed) == chat.answer_atoms(content) == from_chat_json(content)
    assert chat.degraded(request, b"{not json}") == ("unparseable", None)
    output = [{"type": "function_call", "call_id": "call_r1", "name": "f", "arguments": '{"a":1}', "id": "fc_1"}]
    content = response_answer("resp_p1", output)
    responses = object.__new__(ResponsesApi)  # its owners and config are not needed to read an answer
    reason, parsed = responses.degraded(request, content)
    assert reason is None
    assert responses.answer_atoms(content, parsed) == from_responses_json(content) is not None


async def test_the_index_is_bounded_and_forgets_the_oldest_answers_first() -> None:
    tasks = identity(max_entries=1000)
    contexts = []
    for i in range(1500):
        contexts.append(
            await step(
                tasks,
                {"messages": [{"role": "user", "content": f"q{i}"}]},
                from_chat_json(chat_answer(f"answer number {i}")),
            )
        )
    assert 1000 <= len(tasks.index.answers) <= 1000 + 1000 // 16  # swept back to the bound past 1/16th over

    def follow(i: int) -> dict[str, Any]:
        return {
            "messages": [
                {"role": "user", "content": f"q{i}"},
                {"role": "assistant", "content": f"answer number {i}"},
                {"role": "user", "content": "more"},
            ]
        }

    assert (await tasks.identify(follow(0), "chat", {}, None)).source is TaskSource.NEW  # forgotten: a new task
    assert (await tasks.identify(follow(1499), "chat", {}, None)).task_id == contexts[1499].task_id


def test_the_history_is_hashed_once_with_a_digest_per_prefix() -> None:
    atoms = chat_atoms([ASK, {"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}])
    digests = chain(seed(None), atoms)
    assert len(digests) == len(atoms) + 1 and len(set(digests)) == len(digests)
    assert chain(seed(None), atoms[:2]) == digests[:3]  # a prefix's digests are the history's first ones
    assert Boundaries.of(atoms).ends == (2,) and Boundaries.of(atoms).starts == (1,)


async def test_two_tasks_with_identical_histories_and_identical_answers_are_still_two_tasks() -> None:
    """A deterministic answer to the same opening, twice at once: each continuation goes to its own task."""
    tasks = identity()
    request = {"messages": [ASK]}
    a = await tasks.identify(request, "chat", {}, None)
    b = await tasks.identify(request, "chat", {}, None)
    for context in (a, b):
        context.classify(False)
        tasks.file(context, from_chat_json(chat_answer("Hello! How can I help you today?")), "nano")
    history = [ASK, {"role": "assistant", "content": "Hello! How can I help you today?"}]
    first = await tasks.identify({"messages": [*history, {"role": "user", "content": "Weather?"}]}, "chat", {}, None)
    second = await tasks.identify({"messages": [*history, {"role": "user", "content": "Time?"}]}, "chat", {}, None)
    assert {first.task_id, second.task_id} == {a.task_id, b.task_id}


async def test_a_react_scratchpad_that_grows_in_one_prompt_continues_the_task_and_fires_the_loop_signal() -> None:
    """Classic ReAct keeps the transcript in one user message: the previous prompt + the answer + the observation."""
    tasks = identity()
    template = (
        "Answer the question using the tools search and lookup. Use this format:\nThought: ...\nAction: ...\n" * 3
    )
    prompt = template + "Question: What is the capital of France?\nThought:"
    answer = " I should search for it.\nAction: search\nAction Input: capital of France"
    first = await step(tasks, {"messages": [{"role": "user", "content": prompt}]}, from_chat_json(chat_answer(answer)))
    grown = prompt + answer + "\nObservation: Paris is the capital of France.\nThought:"
    second = await tasks.identify({"messages": [{"role": "user", "content": grown}]}, "chat", {}, None)
    assert (second.task_id, second.step, second.loop) == (first.task_id, 2, True)
    assert second.classify(False) == (True, TaskClassReason.LOOP_SIGNAL)
    other = await tasks.identify(
        {"messages": [{"role": "user", "content": prompt + " Something else entirely, typed by someone."}]},
        "chat",
        {},
        None,
    )
    assert other.source is TaskSource.NEW  # the same opening without the answer in it: not a continuation


async def test_a_client_that_drops_the_thinking_block_of_a_reasoning_model_continues_the_task() -> None:
    tasks = identity()
    answer = "<think>\nThe user wants the weather.\n</think>\n\nIt is sunny in Paris today."
    first = await step(tasks, {"messages": [ASK]}, from_chat_json(chat_answer(answer)))
    stripped = [
        ASK,
        {"role": "assistant", "content": "It is sunny in Paris today."},
        {"role": "user", "content": "Rome?"},
    ]
    kept = [ASK, {"role": "assistant", "content": answer}, {"role": "user", "content": "Oslo?"}]
    for history in (stripped, kept):
        assert (await tasks.identify({"messages": history}, "chat", {}, None)).task_id == first.task_id


def test_a_history_read_through_the_memo_is_the_history_normalised_afresh() -> None:
    history = History()
    messages = [
        {"role": "system", "content": "be brief"},
        ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_m1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}],
        },
        {"role": "tool", "tool_call_id": "call_m1", "content": "ok"},
    ]
    fresh = chat_atoms(messages)
    assert history.of({"messages": messages}, "chat") == (fresh, [atom_digest(a) for a in fresh])
    reordered = [dict(reversed(list(m.items()))) for m in messages]  # other bytes: normalised anew, same atoms
    assert history.of({"messages": reordered}, "chat")[0] == fresh
    assert history.of({"messages": messages}, "chat")[0] == fresh  # from the memo now
    assert chain(seed(None), fresh) == chain(seed(None), fresh, [atom_digest(a) for a in fresh])


def test_a_first_request_normalised_directly_is_what_the_memo_gives_and_leaves_the_memo_as_it_was() -> None:
    """`History.of_first`: a history without an answer, short or past `DIRECT_TAIL`, odd items and repeats included."""
    short = [{"role": "system", "content": "be brief"}, ASK, "odd", {"role": "user", "content": [{"text": "hi"}]}]
    long = [{"role": "user", "content": f"turn {n % 5}"} for n in range(40)]
    for messages in (short, long):
        direct, memo = History(), History()
        assert direct.of_first(messages) == memo.of_items(messages, remember=False)
        assert direct.of_first(messages) == (chat_atoms(messages), [atom_digest(a) for a in chat_atoms(messages)])
        assert not direct._young and not direct._old


def _loop_step(n: int) -> tuple[dict[str, Any], bytes, dict[str, Any]]:
    """Step n of a tool loop: the tool result the client appends, the upstream's answer (one call), and that
    answer as the openai SDK appends it."""
    call = f"call_{n:08d}abcdefgh"
    answer = chat_answer(None, [(call, "run", orjson.dumps({"cmd": f"step {n}"}).decode())])
    dumped = {"role": "assistant", "tool_calls": orjson.loads(answer)["choices"][0]["message"]["tool_calls"]}
    return {"role": "tool", "tool_call_id": call, "content": f"output {n}"}, answer, dumped


async def test_a_loop_that_resends_its_messages_unchanged_is_found_by_their_bytes_with_the_same_tasks() -> None:
    """The fast path (router.tasks.prefix) finds what normalising the whole history finds: the same task, step
    after step; a client that re-serialises earlier messages (other key order) is found the slow way."""
    fast, slow = identity(), identity()
    history: list[dict[str, Any]] = [SYSTEM, ASK]
    reordered: list[dict[str, Any]] = [SYSTEM, ASK]
    contexts = []
    for n in range(1, 9):
        tool, answer, dumped = _loop_step(n)
        a = await step(fast, {"messages": list(history)}, from_chat_json(answer))
        b = await step(slow, {"messages": [dict(reversed(m.items())) for m in reordered]}, from_chat_json(answer))
        contexts.append((a, b))
        history += [dumped, tool]
        reordered += [dumped, tool]
    assert {a.task_id for a, _ in contexts} == {contexts[0][0].task_id}
    assert {b.task_id for _, b in contexts} == {contexts[0][1].task_id}
    assert [(a.step, a.source) for a, _ in contexts] == [(b.step, b.source) for _, b in contexts]
    assert [a.step for a, _ in contexts] == list(range(1, 9))
    assert [a.history for a, _ in contexts] == [b.history for _, b in contexts]  # the same key files each answer
    assert len(fast.index.prefixes) == 8


async def test_a_rewritten_earlier_message_misses_the_fast_path_and_forks_where_normalising_says() -> None:
    tasks = identity()
    history: list[dict[str, Any]] = [SYSTEM, ASK]
    for n in range(1, 4):
        tool, answer, dumped = _loop_step(n)
        await step(tasks, {"messages": list(history)}, from_chat_json(answer))
        history += [dumped, tool]
    edited = [*history[:-1], {**history[-1], "content": "output 3, edited"}]  # step 3's tool result changed
    context = await step(tasks, {"messages": edited}, None)
    # answer 3 is no longer extended exactly (its tool result differs after it, which is allowed), so the
    # history still continues answer 3: the same step as with the original bytes
    assert (context.step, context.source) == (4, TaskSource.CONTINUATION)
    trimmed = [SYSTEM, {"role": "user", "content": "Another question entirely."}, *history[2:]]
    forked = await step(tasks, {"messages": trimmed}, None)
    assert forked.source is TaskSource.NEW  # an earlier message differs: nothing filed is extended


async def test_histories_whose_byte_fingerprints_collide_still_get_the_tasks_normalising_gives(monkeypatch) -> None:
    """A fingerprint two histories share (router.tasks.prefix) offers a wrong starting digest: confirmed through
    the answer like every continuation, it is rejected and the history normalised whole — never another task."""
    from router.tasks import identity as identity_module
    from router.tasks.prefix import RawHistory, raw_history

    def colliding(messages: Any) -> RawHistory | None:  # every history's bytes fingerprint alike
        raw = raw_history(messages)
        return None if raw is None else (raw[0], 7 if raw[1] is not None else None, 7)

    monkeypatch.setattr(identity_module, "raw_history", colliding)
    tasks = identity()
    histories: list[list[dict[str, Any]]] = []
    ids: list[set[str]] = []
    for n in range(2):  # two tool loops of three steps each, taking turns
        histories.append([SYSTEM, {"role": "user", "content": f"Task {n}: fix the tests."}])
        ids.append(set())
    for turn in range(3):
        for n in range(2):
            tool, answer, dumped = _loop_step(10 * n + turn)
            context = await step(tasks, {"messages": list(histories[n])}, from_chat_json(answer))
            assert context.step == turn + 1
            ids[n].add(context.task_id)
            histories[n] += [dumped, tool]
    assert [len(found) for found in ids] == [1, 1] and ids[0] != ids[1]


async def test_answers_sent_back_as_filed_or_changed_get_the_tasks_and_digests_of_identity_without_its_memory() -> None:
    """A filed answer's digest and link are remembered for the step that sends it back (`AnswerLinks`): that step
    gets what digesting it again gives, and an answer the client changed (other arguments, same call id) misses
    and is read as before — a continuation of the rewritten answer, with the digests normalising gives."""
    remembering, forgetting = identity(), identity()
    forgetting.index.links.known = lambda start, atom: None  # type: ignore[method-assign]
    known, found = remembering.index.links.known, []
    remembering.index.links.known = lambda start, atom: found.append(known(start, atom)) or found[-1]  # type: ignore
    histories: dict[int, list[dict[str, Any]]] = {0: [SYSTEM, ASK], 1: [SYSTEM, ASK]}
    seen: dict[int, list[tuple[Any, ...]]] = {0: [], 1: []}
    for n in range(1, 5):
        tool, answer, dumped = _loop_step(n)
        if n == 4:  # the client edits the tool call it sends back before the next step
            for side in (0, 1):
                call = histories[side][-2]["tool_calls"][0]
                call["function"] = {**call["function"], "arguments": orjson.dumps({"cmd": "edited"}).decode()}
        for side, tasks in enumerate((remembering, forgetting)):
            context = await step(tasks, {"messages": list(histories[side])}, from_chat_json(answer))
            seen[side].append((context.step, context.source, context.history, context.previous is not None))
            histories[side] += [dumped, tool]
    assert seen[0] == seen[1]
    assert [entry[1] for entry in seen[0]] == [TaskSource.NEW] + [TaskSource.CONTINUATION] * 3
    assert [entry[0] for entry in seen[0]] == [1, 2, 3, 4]
    assert [link is not None for link in found] == [True, True, False]  # the edited answer was not remembered


def test_tool_call_arguments_read_from_memory_are_the_canonical_form_and_the_memory_is_bounded() -> None:
    import importlib

    normalise = importlib.import_module(chat_atoms.__module__)  # the module that makes atoms, and keeps the memo

    spaced = {"arguments": '{"b": [1, {"d": null, "c": 2}], "a": "x"}'}
    first = normalise.arguments(spaced)
    assert first == '{"a":"x","b":[1,{"c":2,"d":null}]}'
    assert normalise.arguments(dict(spaced)) == first  # remembered: the same string
    assert normalise.arguments({"arguments": " not json "}) == "not json"
    for n in range(normalise.ARGUMENTS_MEMO * 3):
        normalise.arguments({"arguments": f'{{"n": {n}}}'})
    assert len(normalise._canonical_young) + len(normalise._canonical_old) <= 2 * normalise.ARGUMENTS_MEMO
    assert normalise.arguments({"arguments": '{"n":  5}'}) == '{"n":5}'
