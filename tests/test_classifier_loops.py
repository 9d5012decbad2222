"""Issue 29: agent loops in any text grammar, calls inside a loop, their single-turn look-alikes, and
confidences fitted leave-one-framework-out. Each request is written here in the shape a user's client
sends; the label is what docs/classifier.md says it is."""

from __future__ import annotations

import json

import pytest

from classifier import classify
from cli import main as routetax

TOOLS_JSON = (
    '[{"name": "get_order", "description": "Look an order up.", "parameters": {"order_id": "string"}}, '
    '{"name": "cancel_order", "description": "Cancel an order.", "parameters": {"order_id": "string"}}]'
)


def chat(*turns: tuple[str, str], **extra: object) -> dict:
    return {"messages": [{"role": role, "content": content} for role, content in turns], **extra}


def decided(body: dict) -> tuple[str, str]:
    decision = classify(body)
    return decision.label, decision.reasons[0]


@pytest.mark.parametrize(
    "system",
    [
        # signature fields, one of which names the tool to run next
        "Input fields: `goal`, `steps_so_far`. Output fields: `rationale`, `next_action`, `action_input`.\n\n"
        "[[ ## goal ## ]]\n{goal}\n\n[[ ## steps_so_far ## ]]\n{steps_so_far}\n\n[[ ## rationale ## ]]\n{rationale}\n\n"
        "[[ ## next_action ## ]]\n{next_action}\n\n[[ ## action_input ## ]]\n{action_input}",
        # tags of the prompt's own choosing, filled with a callable's name in its example
        f"Helpers: {TOOLS_JSON}\nTo use one, write <pick>get_order</pick><with>5</with>; you get <got>...</got> back.",
        # a decorated line grammar naming the function
        "## You can use these tools:\n### get_order\nLook an order up.\n\n## To call one, add to your reply:\n"
        "✿FUNCTION✿: the tool, one of [get_order]\n✿ARGS✿: its input\n✿RESULT✿: what it returned",
        # a command list and line labels
        "Commands:\n1. search(query): search the web\n2. open(url): open a page\n\n"
        "Reply with\nCOMMAND: <name>\nARGS: <args>",
        # a JSON action with a placeholder name, after a long policy
        "Policy: be kind.\n"
        * 300
        + f"\n# Available tools\n{TOOLS_JSON}\n\nEvery reply is exactly:\nThought:\n<reasoning>\n"
        'Action:\n{"name": <the action to take>, "arguments": <its arguments>}',
        # signature fields as JSON keys left for the model to fill
        "Use one or more of the supplied tools: (1) get_order. Reply with JSON:\n"
        '{"next_thought": "{next_thought}", "next_tool_name": "{next_tool_name}", "next_tool_args": "{args}"}',
        # a web agent whose reply ends on a fenced call
        "The actions you can perform:\n`click [id]`: click it.\n`scroll [up|down]`: scroll.\n`stop [answer]`: finish.\n"
        "Issue one action at a time, e.g. 'my next action is ```click [12]```'.",
        # a chat UI's tool selection
        f'Available Tools: {TOOLS_JSON}\nReturn only {{"tool_calls": [{{"name": "<tool>", "parameters": {{}}}}]}}.',
        # an edit format the client applies to files
        "Act as an expert developer. Write each change as a unified diff:\n\n"
        "```diff\n--- app.py\n+++ app.py\n@@ ... @@\n-old\n+new\n```",
        # evidence variables of a plan of tool calls
        "Make a plan for the task. Tools can be one of the following:\n(1) Search[input]: web search\n"
        "(2) Math[input]: arithmetic\nWrite each step as: Plan: ... #E1 = Search[...]",
    ],
)
def test_an_action_grammar_in_any_tokens_is_an_agent(system: str) -> None:
    assert decided(chat(("system", system), ("user", "Where is order 7?"))) == ("agentic", "action_grammar")


@pytest.mark.parametrize(
    "system",
    [
        "For the objective, write a step-by-step plan whose steps, if executed in order, give the answer.",
        "Your objective was X. Your original plan was: 1. a 2. b. Steps already done: 1. a -> ok. Update the plan.",
        "You are in a role play game with roles Coder and Tester. Read the chat and select the next role to play.",
        "You keep the state summary of a coding agent that is still working; it will continue from your summary.",
        "You create tasks for an execution agent, given the last completed task and its result.",
        "Never forget you are a Programmer and I am a Trader. Never flip roles. Start each reply with 'Solution:'.",
        "You are a task prioritization AI: reorder these tasks. Keep in mind the ultimate objective of your team.",
        "Here are solutions to the problem from other agents: One agent solution: 42. Give an updated answer.",
        "Act as an architect and provide direction to your editor engineer for each change.",
        "Write a summary of the work so far: your previous actions, files touched, supporting any continuing tasks.",
        "We have assembled the following team: Coder, Surfer. Given the team composition, devise a plan.",
    ],
)
def test_calls_inside_a_loop_are_agentic(system: str) -> None:
    assert decided(chat(("system", system), ("user", "Go on."))) == ("agentic", "loop_internal")


@pytest.mark.parametrize(
    "system",
    [
        # a planner among agents: the steps are the team's to do
        "Break the task into steps for the researcher and the analyst. Never carry out the steps yourself.",
        # a team member handed its role by the team's leader, to whom its answer goes back
        "<your_role>\nChecks the figures in the draft\n</your_role>\n<instructions>Be brief.</instructions>",
        # a task refined for the role-playing agents that will work on it
        "You can make a task more specific.",
    ],
)
def test_planners_members_and_specifiers_of_a_team_are_agentic(system: str) -> None:
    assert decided(chat(("system", system), ("user", "Compare two laptops for the sales team."))) == (
        "agentic",
        "loop_internal",
    )


def test_a_persons_plan_for_their_team_is_single_turn() -> None:
    """The plan goes to people: no step is someone else's to do "yourself", no role handed by a leader."""
    system = "You help managers plan the work for their team. Be practical."
    ask = "Break the task into steps for my two designers; I will assign the steps myself."
    assert classify(chat(("system", system), ("user", ask))).label == "single_turn"


def test_a_critic_handed_a_writers_task_and_draft_is_agentic_a_person_asking_for_a_critique_is_not() -> None:
    """A reflection loop's critic sees the writer's task and then the writer's draft, as two turns of the other side."""
    critic = "Give feedback on the essay: structure, evidence, tone. Be concrete."
    draft = "Tides come from the moon. They rise twice a day."
    loop = chat(("system", critic), ("user", "Draft a short essay on tides."), ("user", draft))
    assert decided(loop) == ("agentic", "loop_internal")
    task = ("user", "Draft a short essay on tides.")
    revised = chat(("system", critic), task, ("user", draft), ("assistant", "Say why twice."), ("user", draft + "!"))
    assert decided(revised) == ("agentic", "loop_internal")
    for person in (
        chat(("system", critic), ("user", "Can you critique my essay on tides?"), ("user", draft)),
        chat(("system", critic), ("user", "Here is my essay:\n" + draft)),
        chat(("system", "You write essays."), ("user", "Draft a short essay on tides."), ("user", "About 200 words.")),
    ):
        assert classify(person).label == "single_turn"


def test_a_plan_with_the_evidence_its_calls_gathered_is_a_solver_step() -> None:
    """A ReWOO solver: each planned call with what it returned, whatever the tools are called."""
    solver = (
        "Solve the question with the plan and what each step found.\n"
        "Plan: population of Norway. #E1 = 5.6 million = Wiki[Norway population]\n"
        "Plan: population of Oslo. #E2 = 0.7 million = Wiki[Oslo population]\n"
        "Plan: share. #E3 = 12.5% = Calculator[#E2 / #E1]\n"
        "Question: What share of Norwegians live in Oslo?"
    )
    assert decided(chat(("user", solver))) == ("agentic", "action_grammar")
    sheet = "My sheet has #E1 = 5 and #E2 = 7 in column E.\nWhy does =E1+E2 give 12 but =SUM[E1:E2] fail?"
    assert classify(chat(("user", sheet))).label == "single_turn"


def test_a_plan_of_callables_and_a_ledger_in_the_last_turn_are_agentic() -> None:
    planner = (
        "Given the question, create a plan to solve it. Each step is one of these actions:\n"
        '1. lookup(entity="..."): facts about an entity\n2. join(): gather the results\nRefer to step outputs as $1.'
    )
    assert decided(chat(("system", planner), ("user", "Is Rome older than Athens?"))) == ("agentic", "action_grammar")
    ledger = "Answer in JSON: is the request fully satisfied? is progress being made? who should speak next?"
    thread = chat(("user", "Plot NVDA."), ("assistant", "Plan: fetch, then plot."), ("user", ledger))
    assert decided(thread) == ("agentic", "loop_internal")


def test_numbered_react_steps_and_a_reflection_between_attempts_are_agentic() -> None:
    """Completion-style prompts: `Action 1: Search[x]` steps ending on an open `Thought 1:`, and the reflection."""
    actor = (
        "Answer with interleaved Thought, Action and Observation steps. Action is one of:\n(1) Search[topic], which "
        "returns a paragraph.\n(2) Finish[answer], which ends the task.\nQuestion: x?\nThought 1: look\nAction 1: "
        "Search[x]\nObservation 1: none\nQuestion: y?\nThought 1:"
    )
    assert classify(chat(("user", actor))).label == "agentic"
    reflect = "Below is a previous trial you failed. Name the reason for failure and write a new high level plan."
    assert decided(chat(("system", reflect), ("user", "Trial: ..."))) == ("agentic", "loop_internal")


def test_an_action_history_in_the_user_turn_asking_the_next_action_is_a_step() -> None:
    step = 'Task: book a table\nAction history:\n1. {"action": "click", "element": 12}\nChoose the next action.'
    assert decided(chat(("system", "You automate a browser. Answer in JSON."), ("user", step))) == (
        "agentic",
        "action_grammar",
    )
    chess = "My previous actions in this chess game were e4 and Nf3.\nWhat should my next action be?"
    assert classify(chat(("user", chess))).label == "single_turn"


def test_a_persons_task_about_functions_or_speakers_is_single_turn() -> None:
    docstrings = "Write docstrings for:\n- parse(s): reads\n- dump(x): writes\n\nFormat:\nFunction: <name>\nDoc: <text>"
    assert classify(chat(("user", docstrings))).label == "single_turn"
    wedding = chat(("user", "Plan my sister's wedding."), ("assistant", "Date?"), ("user", "Who should speak next?"))
    assert classify(wedding).label == "single_turn"


ACTION = "Thought: look it up\nAction: get_order\nAction Input: 7"


@pytest.mark.parametrize(
    ("action", "result"),
    [
        (ACTION, ""),
        (ACTION, "API output: Error: order 7 not found"),
        ("<tool>get_order</tool><tool_input>7</tool_input>", "<observation>[]</observation>"),
        ("```diff\n--- a.py\n+++ a.py\n@@ ... @@\n-x = 1\n+x = y\n```", "a.py:1:5: F821 undefined name 'y'"),
        ("```diff\n--- a.py\n+++ a.py\n@@ ... @@\n-x = 1\n+x = 2\n```", "The hunk for a.py did not apply."),
    ],
)
def test_an_action_answered_by_any_result_is_a_running_loop(action: str, result: str) -> None:
    body = chat(("user", "Check order 7 and fix a.py."), ("assistant", action), ("user", result))
    assert classify(body).label == "agentic"


@pytest.mark.parametrize(
    "system",
    [
        # the diff's parts named in prose, no example: the edits go to a program that applies them
        "You are a coding assistant inside the editor. Answer every change request with a unified diff. Begin each "
        "file with a `--- a/path` line and a `+++ b/path` line, then one `@@` hunk per change. The extension "
        "applies your diff to the workspace, so it must apply cleanly.",
        "Return patches only. Headers: `--- old/file` then `+++ new/file`; hunks open with @@. Edits will be applied "
        "automatically to the repository and you will be told when one fails.",
    ],
)
def test_a_diff_format_named_in_prose_for_a_program_that_applies_it_is_an_agent(system: str) -> None:
    """Issue 29's unseen-style misses: an edit format described, not exemplified, whose edits a program applies."""
    assert decided(chat(("system", system), ("user", "Rename foo to bar in util.py."))) == ("agentic", "action_grammar")


def test_a_diff_format_for_a_person_to_read_is_single_turn() -> None:
    """The same format for a person to review: nothing the model writes is applied, no result comes back."""
    system = (
        "When you suggest a change, show it as a unified diff (`--- a/path`, `+++ b/path`, `@@` hunks) so the user "
        "can read it before deciding. Explain the change in one sentence."
    )
    assert classify(chat(("system", system), ("user", "How would you rename foo to bar?"))).label == "single_turn"


@pytest.mark.parametrize(
    "system",
    [
        "Make a plan for the other agents. Keep each step to one line.",
        "You are the planner. Break the task into steps for your teammates, one step per line.",
    ],
)
def test_a_planner_whose_steps_the_other_agents_carry_out_is_agentic(system: str) -> None:
    """A group chat's first speaker sees one signed turn: only its instructions say the plan is the others' to do."""
    body = {
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "name": "user", "content": "Write a two-line note on the weather in Lima."},
        ]
    }
    assert decided(body) == ("agentic", "loop_internal")


def test_people_in_a_channel_are_not_a_team_of_agents() -> None:
    people = {
        "messages": [
            {"role": "system", "content": "You are Pip, a bot in a Discord server."},
            {"role": "user", "name": "alice", "content": "movie tonight?"},
            {"role": "user", "name": "bob_42", "content": "Pip, pick one for us"},
        ]
    }
    assert classify(people).label == "single_turn"
    agents = {"messages": [*people["messages"][:1], {"role": "user", "name": "planner", "content": "1. fetch 2. plot"}]}
    agents["messages"].append({"role": "user", "name": "coder", "content": "```python\nplot()\n```"})
    assert decided(agents) == ("agentic", "multi_agent_chat")


def test_class_named_schemas_offered_for_extraction_are_single_turn() -> None:
    def schema(name: str) -> dict:
        return {"type": "function", "function": {"name": name, "description": f"Correctly extracted `{name}`."}}

    body = chat(("user", "Weather in Oslo, and who won in 2022?"), tools=[schema("Weather"), schema("WebSearch")])
    assert decided(body) == ("single_turn", "structured_output")
    functions = [{"type": "function", "function": {"name": n}} for n in ("get_weather", "web_search")]
    assert classify(chat(("user", "Weather in Oslo?"), tools=functions)).label == "agentic"


@pytest.mark.parametrize(
    "turns",
    [
        # an annotator whose output format is a tool call
        (
            (
                "system",
                f"You annotate requests with the call they need, given {TOOLS_JSON}. "
                "Output <tool_call>...</tool_call>.",
            ),
            ("user", "Request: cancel order 9"),
        ),
        # retrieved excerpts holding an agent's prompt
        (
            (
                "system",
                "Answer from the excerpts below.\n\n### Excerpts\n[1] agents.md: Thought: ...\nAction: one of "
                "[search]\nAction Input: ...\nObservation: the result\n",
            ),
            ("user", "What is Observation?"),
        ),
        # a pasted agent prompt to shorten
        (
            (
                "user",
                f"Here's my agent's prompt, make it shorter:\n\nTools: {TOOLS_JSON}\nAction: <tool name>\n"
                "Action Input: <input>",
            ),
        ),
        # a meeting summariser whose format has an "Action items:" line
        (("system", "Summarise the meeting.\nFormat:\nDecisions:\nAction items:\nOwners:"), ("user", "notes")),
        # an intent router whose format has an Action line but no arguments
        (
            ("system", "Available actions: refund, cancel.\nRespond in the format:\nAction: <one>\nReason: <why>"),
            ("user", "I want my money back"),
        ),
        # an intent router that picks a label nobody runs
        (
            ("system", 'Available actions: refund, cancel. Respond with JSON {"action": "refund|cancel"}.'),
            ("user", "I want my money back"),
        ),
        # a person's plan, a hiring plan from a team's composition, a project's state summary for a board
        (("user", "Make a step-by-step plan for my weekend in Porto."),),
        (("system", "You are an HR analyst. Given the team composition, suggest a hiring plan."), ("user", "3 devs")),
        (("system", "Provide a state summary of the project for the board."), ("user", "notes")),
        # people's words that loop phrases were once too loose for
        (("system", "Tell the customer which agent should handle their claim."), ("user", "hi")),
        (("system", "Compare the results with the previous trial of the drug."), ("user", "hi")),
        (("system", "Make a plan to gather evidence for the court case."), ("user", "hi")),
        # a help bot whose fenced command examples are for a person
        (
            (
                "system",
                "Help with our app. Commands:\n`open [file]`: opens.\n`save [file]`: saves.\nExplain them; an "
                "example such as ```save [notes.txt]``` helps.",
            ),
            ("user", "How do I keep my note?"),
        ),
        # a labelling assistant whose output is a tool call in tags
        (
            (
                "system",
                f"You are a data labeling assistant. Write the call each query needs from {TOOLS_JSON} in "
                "<tool_call></tool_call> tags.",
            ),
            ("user", "Query: cancel order 12"),
        ),
    ],
)
def test_look_alikes_stay_single_turn(turns: tuple[tuple[str, str], ...]) -> None:
    assert classify(chat(*turns)).label == "single_turn"


def test_agent_words_no_rule_read_are_calibrated_apart_from_plain_chat() -> None:
    """Where an agent in an unknown grammar would land states what that bucket earned, not what plain chat did."""
    from classifier.calibration import CONFIDENCE
    from classifier.core import classify_with_rule

    plain, plain_rule = classify_with_rule(chat(("user", "What's the capital of Peru?")))
    wordy, wordy_rule = classify_with_rule(
        chat(("system", "You are our support agent. Explain tool errors kindly."), ("user", "Hi"))
    )
    assert plain.reasons == wordy.reasons == ("no_agentic_signal",)
    assert (plain_rule, wordy_rule) == ("no_agentic_signal", "no_agentic_signal:agent_words")
    assert (plain.confidence, wordy.confidence) == (CONFIDENCE[plain_rule], CONFIDENCE[wordy_rule])


def test_eval_prints_leave_one_framework_out_per_framework(capsys: pytest.CaptureFixture[str]) -> None:
    assert routetax(["eval-classifier", "--json"]) == 0
    lofo = json.loads(capsys.readouterr().out)["lofo"]
    assert lofo["accuracy"] >= 0.90 and lofo["ece"] <= 0.05
    assert {"langgraph", "openai-agents", "shaped/tag_agent"} <= set(lofo["per_style"])
    assert all({"n", "accuracy", "confidence", "ece"} <= set(cell) for cell in lofo["per_style"].values())
    assert routetax(["eval-classifier"]) == 0
    out = capsys.readouterr().out
    assert "leave-one-framework-out" in out and "langgraph" in out.split("leave-one-framework-out")[1]


def test_every_captured_framework_is_calibrated_on_its_own_when_left_out(capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's measure, per framework and not only pooled: a framework left out of the fit is decided at
    least 0.90 right, and what its confidences state is within 0.05 of what it gets (ECE)."""
    assert routetax(["eval-classifier", "--json"]) == 0
    lofo = json.loads(capsys.readouterr().out)["lofo"]
    frameworks = {style: cell for style, cell in lofo["per_style"].items() if cell["framework"]}
    assert len(frameworks) >= 26 and "deepeval" in frameworks and "shaped/tag_agent" not in frameworks
    assert {style: cell["accuracy"] for style, cell in frameworks.items() if cell["accuracy"] < 0.90} == {}
    assert {style: round(cell["ece"], 3) for style, cell in frameworks.items() if cell["ece"] > 0.05} == {}
    assert lofo["worst_framework_ece"] <= 0.05 and lofo["ece"] <= 0.05


def test_a_rule_seen_in_one_style_states_its_prior_when_that_style_is_held_out() -> None:
    """Fitted without the style it decides, a rule no other style backs can claim only its family's prior."""
    from classifier import calibrate, lofo

    row = {"request": chat(("user", "hi")), "api": "chat", "label": "single_turn", "source": "only/style"}
    other = {
        **row,
        "source": "other/style",
        "request": chat(("user", "x"), tools=[{"type": "function", "function": {"name": "f"}}]),
        "label": "agentic",
    }
    fit = calibrate.Fit(reading_prior=0.9, reading_strength=2, absence_prior=0.8, absence_strength=2)
    result = lofo.leave_one_style_out(calibrate.decide([row, other]), fit)
    assert result["per_style"]["only/style"]["confidence"] == pytest.approx(0.8)  # nothing read: single-turn
    assert result["per_style"]["other/style"]["confidence"] == pytest.approx(calibrate.STRUCTURAL_PRIOR)


def test_the_shipped_fit_is_as_cautious_as_the_per_framework_target_allows() -> None:
    """Stating less than the shipped confidences on either text family (its prior one step lower) puts some
    captured framework's out-of-style ECE above the target: the confidences rose only as far as the record
    of styles left out requires, not until the figures looked good."""
    from dataclasses import replace

    from classifier import calibrate, lofo

    folds = lofo.Folds(calibrate.decide(calibrate.development_rows()))
    shipped = calibrate.shipped_fit()
    assert folds.within(shipped, calibrate.ECE_TARGET)
    for lower in (
        replace(shipped, reading_prior=round(shipped.reading_prior - 0.01, 2)),
        replace(shipped, absence_prior=round(shipped.absence_prior - 0.01, 2)),
    ):
        assert not folds.within(lower, calibrate.ECE_TARGET)


def test_held_out_rows_are_never_fitted_on(capsys: pytest.CaptureFixture[str]) -> None:
    from classifier import evaluate as evaluation

    heldout = str(evaluation.DATA_DIR / "framework-captures-heldout.jsonl")
    assert routetax(["eval-classifier", "--corpus", heldout, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["lofo"] is None


def test_when_a_style_defeats_the_rules_the_fit_takes_the_truest_one_not_the_most_trusting() -> None:
    from classifier import calibrate, lofo

    plain = {"request": chat(("user", "hi")), "api": "chat", "label": "single_turn"}
    rows = [{**plain, "source": f"chat/{i}"} for i in range(6)]
    rows += [{**plain, "source": "agent/unknown_grammar", "label": "agentic"} for _ in range(4)]  # all missed
    decided = calibrate.decide(rows)
    folds = lofo.Folds(decided)
    chosen = calibrate.choose_fit(decided)
    assert not folds.within(chosen, calibrate.ECE_TARGET)
    grid = [(prior, strength) for prior in calibrate.PRIORS for strength in calibrate.STRENGTHS]
    assert folds.worst(chosen) == min(folds.worst(calibrate.Fit(0.9, 2, *cell)) for cell in grid)


WEATHER = "get_weather: current weather for a city"


@pytest.mark.parametrize(
    "body",
    [
        # a signature program's last step: the run's trajectory in its own fields, tool names and observations
        chat(
            ("system", "Input fields: `question`, `trajectory`. Output fields: `reasoning`, `answer`."),
            (
                "user",
                "[[ ## question ## ]]\nGloves in Oslo?\n\n[[ ## trajectory ## ]]\n[[ ## thought_0 ## ]]\nlook\n\n"
                "[[ ## tool_name_0 ## ]]\nget_weather\n\n[[ ## observation_0 ## ]]\n-3C\n\nRespond with the fields.",
            ),
        ),
        # a conversational agent's template in the user turn: tools one a line, a JSON action with its input
        chat(
            ("system", "Assistant is a large language model."),
            (
                "user",
                f"TOOLS\n-----\n> {WEATHER}\n> lookup_ticket: a ticket by id\n\nRespond with\n```json\n"
                '{"action": string, "action_input": string}\n```\n\nUSER INPUT: Gloves in Oslo?',
            ),
        ),
        # callables named by a phrase and a TOOL label the reply starts with
        chat(
            (
                "system",
                "You have access to the following TOOLS:\nTOOL: get_weather\nJSON FORMAT: {...}\n"
                'Write your request as "TOOL:" and then the JSON.',
            ),
            ("user", "Gloves in Oslo?"),
        ),
        # a plan of evidence steps whose numbers are placeholders
        chat(
            (
                "user",
                'Write a plan for the task below. Each step is "#E<n> = <Tool>[<input>]".\n\nTools:\n'
                "Search[query] looks facts up.\nLLM[text] reasons.\n\nTask: colder in Oslo or Helsinki?",
            )
        ),
        # a planner of the given objective, and a writer whose drafts come back with a critique
        chat(
            ("user", "For the given objective, come up with a simple step by step plan.\n\nObjective: pack for Oslo.")
        ),
        chat(("system", "You write short notes. Revise your text when given a critique."), ("user", "A note on snow.")),
        # an actions array whose schema names its tool by a const
        chat(
            (
                "system",
                'Use this format:\nThought: <why>\nActions: <JSON array: {"name": {"const": "Calculator"}, '
                '"input": {"type": "object", "properties": {}}}>\nAnswer: <final answer>',
            ),
            ("user", "3 * 7?"),
        ),
    ],
)
def test_framework_templates_in_their_own_words_are_agentic(body: dict) -> None:
    assert classify(body).label == "agentic"


def test_a_tool_call_the_client_rewrote_as_text_then_its_observation_is_a_step() -> None:
    call = "Calling tools:\n[{'id': 'c1', 'type': 'function', 'function': {'name': 'get_weather', 'arguments': {}}}]"
    body = chat(("user", "Weather in Paris?"), ("assistant", call), ("user", "Observation:\n8C, rain"))
    assert classify(body).label == "agentic"


def _forced_schema(properties: dict) -> dict:
    schema = {"type": "function", "function": {"name": "Output", "parameters": {"properties": properties}}}
    return {"tools": [schema], "tool_choice": {"type": "function", "function": {"name": "Output"}}}


def test_a_forced_schema_that_chooses_the_next_action_is_an_agent_step() -> None:
    """An orchestrator forcing its one output schema still picks its move: a tool's input or the answer."""
    move = {"anyOf": [{"$ref": "#/$defs/WeatherInput"}, {"$ref": "#/$defs/FinalAnswer"}]}
    orchestrator = chat(("user", "Gloves in Oslo?"), **_forced_schema({"reasoning": {}, "action": move}))
    assert decided(orchestrator) == ("agentic", "forced_step")
    pet = {"anyOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}]}
    extraction = chat(("user", "My cat Tom is 3."), **_forced_schema({"pet": pet}))
    assert decided(extraction) == ("single_turn", "forced_function")
