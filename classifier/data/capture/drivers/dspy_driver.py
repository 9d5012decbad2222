"""DSPy: a ReAct agent (its field-marker protocol, tools run, observations fed back) and single Predict programs.

DSPy's ChatAdapter speaks in text: the model answers `[[ ## next_thought ## ]]`, `[[ ## next_tool_name ## ]]`,
`[[ ## next_tool_args ## ]]` fields, DSPy runs the named tool and sends the trajectory back with
`observation_N`; a last call extracts the answer from the trajectory. Every one of those calls serves the loop
(agentic). A `Predict` or `ChainOfThought` program called once, whose answer goes to no model, is single-turn.
"""

from __future__ import annotations

import json

import dspy
from _common import run, session
from _tasks import OPS_TASKS

TASKS = OPS_TASKS


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return "-3C, snow"


def lookup_ticket(ticket_id: str) -> str:
    """Look a support ticket up by id."""
    if ticket_id == "INC-9":
        return "Error: ticket service unavailable (HTTP 503)"
    return "[]" if ticket_id == "INC-77" else "open, assigned to Dana, last update 2h ago"


def step(thought: str, tool: str, args: dict) -> dict:
    return {
        "text": f"[[ ## next_thought ## ]]\n{thought}\n\n[[ ## next_tool_name ## ]]\n{tool}\n\n"
        f"[[ ## next_tool_args ## ]]\n{json.dumps(args)}\n\n[[ ## completed ## ]]"
    }


def lm(url: str) -> dspy.LM:
    return dspy.LM("openai/gpt-4o-mini", api_base=url, api_key="sk-capture", cache=False, num_retries=0)


def json_step(thought: str, tool: str, args: dict) -> dict:
    return {"text": json.dumps({"next_thought": thought, "next_tool_name": tool, "next_tool_args": args})}


def react(url: str, question: str, adapter: dspy.Adapter | None = None) -> None:
    with dspy.context(lm=lm(url), adapter=adapter or dspy.ChatAdapter()):
        dspy.ReAct("question -> answer", tools=[get_weather, lookup_ticket], max_iters=4)(question=question)


def main() -> None:
    for t, (question, tool, args) in enumerate(TASKS):
        run(
            session("react", "agentic", t),
            [
                step("I need the facts first.", tool, args),
                step("Let me double-check with the other source.", tool, args),
                step("I have what I need.", "finish", {}),
                {
                    "text": "[[ ## reasoning ## ]]\nFrom the observations.\n\n[[ ## answer ## ]]\nDone.\n\n"
                    "[[ ## completed ## ]]"
                },
            ],
            lambda url, q=question: react(url, q),
        )
        run(
            session("react_json_adapter", "agentic", t),
            [
                json_step("I need the facts first.", tool, args),
                json_step("I have what I need.", "finish", {}),
                {"text": json.dumps({"reasoning": "From the observation.", "answer": "Done."})},
            ],
            lambda url, q=question: react(url, q, dspy.JSONAdapter()),
        )

        def predict(url: str, q: str = question) -> None:
            with dspy.context(lm=lm(url)):
                dspy.Predict("question -> category: str, urgency: int")(question=q)

        run(
            session("predict", "single_turn", t),
            [{"text": "[[ ## category ## ]]\nsupport\n\n[[ ## urgency ## ]]\n2\n\n[[ ## completed ## ]]"}],
            predict,
        )

        def cot(url: str, q: str = question) -> None:
            with dspy.context(lm=lm(url)):
                dspy.ChainOfThought("document -> summary")(document=f"Ticket note: {q} The customer is waiting.")

        run(
            session("chain_of_thought", "single_turn", t),
            [
                {
                    "text": "[[ ## reasoning ## ]]\nShort note.\n\n[[ ## summary ## ]]\nA customer asks.\n\n"
                    "[[ ## completed ## ]]"
                }
            ],
            cot,
        )


if __name__ == "__main__":
    main()
