"""The classifier: every rule and hard case of the definition, and never a crash."""

from __future__ import annotations

import json

import pytest

from classifier import REASONS, classify
from classifier import evaluate as evaluation

TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
USER = [{"role": "user", "content": "What's the status of order 7?"}]
HISTORY = USER + [
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "shipped"},
]


def label(body: object, api: str = "chat", headers: dict | None = None) -> str:
    return classify(body, api=api, headers=headers).label


@pytest.mark.parametrize("choice", [None, "auto", "required"])
def test_offered_tools_are_agentic(choice: str | None) -> None:
    body = {"messages": USER, "tools": [TOOL]}
    if choice:
        body["tool_choice"] = choice
    decision = classify(body)
    assert decision.label == "agentic" and decision.confidence == 1.0 and decision.reasons == ("tools_declared",)


def test_legacy_functions_are_agentic_unless_forced() -> None:
    function = TOOL["function"]
    assert label({"messages": USER, "functions": [function]}) == "agentic"
    assert label({"messages": USER, "functions": [function], "function_call": {"name": "lookup"}}) == "single_turn"
    assert label({"messages": USER, "functions": [function], "function_call": "none"}) == "single_turn"


def test_forced_function_is_single_turn() -> None:
    decision = classify(
        {"messages": USER, "tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "lookup"}}}
    )
    assert decision.label == "single_turn" and decision.reasons == ("forced_function",)


def test_tool_choice_none_without_history_is_single_turn() -> None:
    assert classify({"messages": USER, "tools": [TOOL], "tool_choice": "none"}).reasons == ("tool_choice_none",)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"tools": [TOOL], "tool_choice": "none"},
        {"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "x"}}},
    ],
)
def test_tool_history_is_agentic_whatever_the_tool_choice(extra: dict) -> None:
    decision = classify({"messages": HISTORY, **extra})
    assert decision.label == "agentic" and decision.reasons == ("tool_history",)


def test_legacy_function_message_is_tool_history() -> None:
    messages = USER + [
        {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
        {"role": "function", "name": "f", "content": "ok"},
    ]
    assert label({"messages": messages}) == "agentic"


REACT_SYSTEM = (
    "You have access to the following tools:\nsearch: web search\n\nUse the following format:\n"
    "Thought: think\nAction: the action, one of [search]\nAction Input: the input\nObservation: the result"
)


def test_react_protocol_in_system_prompt_is_agentic() -> None:
    decision = classify(
        {
            "messages": [
                {"role": "system", "content": REACT_SYSTEM},
                {"role": "user", "content": "Question: who won in 2022?"},
            ]
        }
    )
    assert decision.label == "agentic" and decision.reasons == ("react_protocol",) and decision.confidence == 0.8


def test_running_react_loop_is_agentic_with_higher_confidence() -> None:
    messages = [
        {"role": "user", "content": "Question: population of Oslo?"},
        {"role": "assistant", "content": "Thought: search it\nAction: search\nAction Input: Oslo population"},
        {"role": "user", "content": "Observation: about 700,000"},
    ]
    decision = classify({"messages": messages})
    assert decision.label == "agentic" and decision.confidence == 0.9


def test_langchain_template_in_one_user_turn_is_agentic() -> None:
    template = REACT_SYSTEM + "\n\nBegin!\n\nQuestion: what is 2+2?\nThought:"
    assert label({"messages": [{"role": "user", "content": template}]}) == "agentic"


def test_json_action_format_defined_by_the_system_is_agentic() -> None:
    system = (
        'You can use these tools: search, calc. Respond with a single JSON object {"action": "...", '
        '"action_input": ...}. The result of each action will be returned to you.'
    )
    decision = classify({"messages": [{"role": "system", "content": system}, {"role": "user", "content": "2+2?"}]})
    assert decision.label == "agentic" and decision.reasons == ("command_protocol",)


def test_code_executed_and_fed_back_is_agentic() -> None:
    messages = [
        {"role": "user", "content": "Mean of 1, 2, 3?"},
        {"role": "assistant", "content": "```python\nprint(sum([1,2,3])/3)\n```"},
        {"role": "user", "content": "Output:\n2.0"},
    ]
    decision = classify({"messages": messages})
    assert decision.label == "agentic" and decision.reasons == ("code_execution_loop",)


def test_code_generation_and_follow_up_chat_are_single_turn() -> None:
    messages = [
        {"role": "user", "content": "Write a Python palindrome check."},
        {"role": "assistant", "content": "```python\ndef p(s): return s == s[::-1]\n```"},
        {"role": "user", "content": "Thanks, now make it ignore case."},
    ]
    assert label({"messages": messages}) == "single_turn"


def test_tool_results_in_other_client_shapes_are_tool_history() -> None:
    ipython = USER + [{"role": "assistant", "content": "<|python_tag|>print(1)"}, {"role": "ipython", "content": "1"}]
    parts = USER + [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]}]
    responses = {"input": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "c", "content": "ok"}]}
    assert classify({"messages": ipython}).reasons == ("tool_history",)
    assert classify({"messages": parts}).reasons == ("tool_history",)
    assert classify(responses, api="responses").reasons == ("tool_history",)


@pytest.mark.parametrize(
    "system",
    [
        "You are Open Interpreter. When you execute code, it will be executed on the user's machine. "
        "You have full and complete permission to execute any code necessary.",
        "Solve the task in a cycle of 'Thought:', 'Code:', and 'Observation:' sequences. Print outputs will then "
        "appear in the 'Observation:' field.",
        "You are a Linux terminal assistant. Reply with exactly one shell command wrapped in <cmd></cmd>. "
        "I will run it and reply with its output.",
        "Interact with a household. At each turn, you will be given the observation of the environment and you must "
        "output one action from the following list: go to X, take Y.",
        "You are an autonomous programmer working in the command line. You can use the following commands:\n"
        "COMMANDS:\nopen <path>\nRESPONSE FORMAT:\nYour shell prompt is formatted as follows: (Open file) $",
    ],
)
def test_agent_prompts_of_several_styles_are_agentic(system: str) -> None:
    decision = classify({"messages": [{"role": "system", "content": system}, {"role": "user", "content": "Go."}]})
    assert decision.label == "agentic" and decision.confidence == 0.8


@pytest.mark.parametrize(
    ("step", "result"),
    [
        ("```bash\ndf -h\n```", "Filesystem      Size  Used Avail\n/dev/sda1        50G   45G  5G"),
        ('{"action": "search_flights", "args": {"to": "FCO"}}', '{"results": [{"price": 120}]}'),
        ("<execute>\nprint(6*7)\n</execute>", "Observation:\n42"),
    ],
)
def test_running_text_loop_without_system_prompt_is_agentic(step: str, result: str) -> None:
    messages = [{"role": "user", "content": "Do it."}, {"role": "assistant", "content": step}]
    decision = classify({"messages": messages + [{"role": "user", "content": result}]})
    assert decision.label == "agentic" and decision.confidence == 0.9


def test_agent_prompt_sent_as_first_user_turn_is_agentic() -> None:
    text = "You are a shell agent. Reply with one bash command in a ```bash block; its output will be sent back to you."
    decision = classify({"messages": [{"role": "user", "content": text + "\n\nTask: count lines in src/"}]})
    assert decision.label == "agentic" and decision.confidence == 0.75


@pytest.mark.parametrize(
    "system",
    [
        "You are a friendly support agent. Available actions customers can take in the app include freezing a card. "
        "Point customers to the right tool.",
        'Classify the utterance. Reply only with JSON: {"intent": "...", "action": "book"|"cancel"|"other"}',
        "You write SQL. The query will be executed by the analyst after review. Output only SQL.",
        "Translate into Spanish. The output will be shown to users in the app; respond with the translation only.",
        "You are a text adventure game master. The player types actions like 'go north'.",
    ],
)
def test_instructions_that_only_sound_agentic_are_single_turn(system: str) -> None:
    body = {"messages": [{"role": "system", "content": system}, {"role": "user", "content": "I want to cancel."}]}
    assert label(body) == "single_turn"


@pytest.mark.parametrize(
    "text",
    [
        "Improve this system prompt: 'You are a terminal agent. Reply with one bash command; I will run it and send "
        "you the output.'",
        "Review this prompt: <<<You have access to the following tools: search. Use the following format: "
        "Thought/Action/Observation.>>>",
        "Write a Python function that parses 'Action:' lines from model output, calls the tool, adds 'Observation:'.",
    ],
)
def test_quoted_agent_prompts_are_single_turn(text: str) -> None:
    assert label({"messages": [{"role": "user", "content": text}]}) == "single_turn"
    assert label({"input": text}, "responses") == "single_turn"


def test_confidence_orders_evidence_strength() -> None:
    structural = classify({"messages": USER, "tools": [TOOL]}).confidence
    loop = [*USER, {"role": "assistant", "content": "Action: x"}, {"role": "user", "content": "Observation: y"}]
    running = classify({"messages": loop}).confidence
    defined = classify({"messages": [{"role": "system", "content": REACT_SYSTEM}, *USER]}).confidence
    assert structural == 1.0 > running > defined


@pytest.mark.parametrize(
    "text",
    [
        "Ticket 4411: the agent dashboard shows 'Action required' for every customer. Please triage.",
        "Summarise what this agent did:\nThought: look up\nAction: search\nAction Input: x\nObservation: found\n"
        "Final Answer: done",
        "Explain the ReAct technique (Thought, Action, Observation) simply.",
    ],
)
def test_words_are_not_structure(text: str) -> None:
    assert label({"messages": [{"role": "user", "content": text}]}) == "single_turn"


def test_structured_output_is_single_turn() -> None:
    decision = classify({"messages": USER, "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}})
    assert decision.label == "single_turn" and decision.reasons == ("structured_output",)


def test_responses_api_rules() -> None:
    function = {"type": "function", "name": "lookup", "parameters": {}}
    assert label({"input": "hi", "tools": [function]}, "responses") == "agentic"
    for builtin in ("web_search", "file_search", "computer_use_preview", "code_interpreter", "mcp"):
        assert classify({"input": "hi", "tools": [{"type": builtin}]}, api="responses").reasons == ("builtin_tools",)
    assert label({"input": "hi", "tools": [function], "tool_choice": "none"}, "responses") == "single_turn"
    forced = {"input": "hi", "tools": [function], "tool_choice": {"type": "function", "name": "lookup"}}
    assert label(forced, "responses") == "single_turn"
    history = [{"type": "function_call_output", "call_id": "c", "output": "ok"}]
    assert label({"input": history, "previous_response_id": "resp_1"}, "responses") == "agentic"
    assert label({"input": [{"type": "computer_call", "call_id": "c"}]}, "responses") == "agentic"
    assert label({"input": "Translate 'hi' to French"}, "responses") == "single_turn"
    assert label({"instructions": REACT_SYSTEM, "input": "Question: who?"}, "responses") == "agentic"
    text_format = {"input": "x", "text": {"format": {"type": "json_schema", "name": "r", "schema": {}}}}
    assert classify(text_format, api="responses").reasons == ("structured_output",)


def test_header_override_wins_and_bad_values_are_ignored() -> None:
    decision = classify({"messages": USER}, headers={"X-RouteTax-Class": "agentic"})
    assert decision.label == "agentic" and decision.reasons == ("header_override",)
    assert label({"messages": USER, "tools": [TOOL]}, headers={"x-routetax-class": "single_turn"}) == "single_turn"
    assert label({"messages": USER}, headers={"x-routetax-class": "banana"}) == "single_turn"


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "string",
        42,
        {"messages": None},
        {"messages": "hi"},
        {"messages": [None, 1, "x", []]},
        {"messages": [{"role": None, "content": None}]},
        {"messages": [{"content": [{"type": "image_url"}, None, 3]}]},
        {"tools": "yes", "messages": []},
        {"tools": [None], "tool_choice": {"type": 5}},
        {"messages": [{"role": "assistant", "tool_calls": "x"}]},
        {"input": {"weird": True}},
        {"messages": [{"role": "user", "content": "x" * 200_000}]},
        {"messages": [{"role": "user" if i % 2 else "assistant", "content": f"turn {i}"} for i in range(500)]},
    ],
)
@pytest.mark.parametrize("api", ["chat", "responses"])
def test_never_raises_on_any_shape(body: object, api: str) -> None:
    decision = classify(body, api=api)
    assert decision.label in ("agentic", "single_turn") and 0 <= decision.confidence <= 1
    assert set(decision.reasons) <= REASONS


def test_shipped_corpus_accuracy_and_coverage() -> None:
    rows = evaluation.load(evaluation.default_corpus())
    result = evaluation.evaluate(rows, repeats=1)
    assert result["n"] >= 400 and result["accuracy"] >= 0.99
    assert {row["api"] for row in rows} == {"chat", "responses"}
    assert result["baseline"]["accuracy"] < 0.6  # the naive audit is what the classifier must beat


def test_eval_command_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluation.main(["--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    keys = ("accuracy", "n", "precision", "recall", "f1", "confusion", "per_source", "errors")
    for key in (*keys, "latency_us_p50", "latency_us_p99", "baseline"):
        assert key in result
    assert set(result["baseline"]) >= {"accuracy", "per_source", "errors"}


def test_eval_command_bad_corpus_exits_2(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluation.main(["--corpus", str(tmp_path / "missing.jsonl")]) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"label": "agentic", "request": {}}\nnot json\n')
    assert evaluation.main(["--corpus", str(bad)]) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err
