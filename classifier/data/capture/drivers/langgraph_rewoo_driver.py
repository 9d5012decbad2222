"""LangGraph ReWOO: a planner writes the whole plan as `#E1 = Tool[input]` lines, workers run it, a solver answers.

The plan is a text action grammar that the graph parses and executes; the evidence comes back to the solver
model of the same task (agentic at every call, though none offers tools).
"""

from __future__ import annotations

import re
from typing import TypedDict

from _common import run, session
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph

TASKS = [
    "Is it colder in Oslo or in Helsinki today?",
    "What is the weather in Denver, and is the airport delaying flights?",
    "Should the Zurich office close early because of snow?",
    "Find Seattle's weather and suggest a picnic time.",
    "Is Amsterdam good for cycling today, given the wind?",
    "Compare Rome's and Madrid's temperatures.",
]
PLANNER = """Write a plan for the task below as numbered evidence steps. Each line is one step: \
"Plan: <why>" followed by "#E<n> = <Tool>[<input>]". A later step may use an earlier result by its name (#E1).

Tools:
Search[query] looks current facts up.
LLM[instruction] reasons over text you give it.

Task: {task}"""
SOLVER = """Answer the task using the plan and the evidence each step gathered (the evidence may hold more than \
you need).

{plan}

Task: {task}
Answer in one sentence:"""
STEP = re.compile(r"Plan:\s*(.+)\s*(#E\d+)\s*=\s*(\w+)\s*\[([^\]]+)\]")


class State(TypedDict):
    task: str
    plan: str
    steps: list
    results: dict
    answer: str


def rewoo(url: str, task: str) -> None:
    model = ChatOpenAI(model="gpt-4o-mini", base_url=url, api_key="sk-capture", max_retries=0)

    def plan(state: State) -> dict:
        text = model.invoke([HumanMessage(PLANNER.format(task=state["task"]))]).content
        return {"plan": text, "steps": STEP.findall(text), "results": {}}

    def work(state: State) -> dict:
        _, name, tool, arg = state["steps"][len(state["results"])]
        for key, value in state["results"].items():
            arg = arg.replace(key, value)
        result = "-3C, snow" if tool == "Search" else model.invoke([HumanMessage(arg)]).content
        return {"results": {**state["results"], name: str(result)}}

    def solve(state: State) -> dict:
        shown = state["plan"]
        for key, value in state["results"].items():
            shown = shown.replace(key, f"{key} = {value}", 1)
        return {"answer": model.invoke([HumanMessage(SOLVER.format(plan=shown, task=state["task"]))]).content}

    graph = StateGraph(State)
    graph.add_node("plan", plan)
    graph.add_node("tool", work)
    graph.add_node("solve", solve)
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "tool")
    graph.add_conditional_edges("tool", lambda s: "solve" if len(s["results"]) >= len(s["steps"]) else "tool")
    graph.add_edge("solve", END)
    graph.compile().invoke({"task": task}, {"recursion_limit": 10})


def main() -> None:
    for t, task in enumerate(TASKS):
        plan = (
            "Plan: Find today's weather for the first place. #E1 = Search[weather today first city]\n"
            "Plan: Find today's weather for the second. #E2 = Search[weather today second city]\n"
            "Plan: Compare them. #E3 = LLM[Which is colder, given #E1 and #E2?]"
        )
        run(
            session("rewoo", "agentic", t),
            [{"text": plan}, {"text": "Both are -3C; equally cold."}, {"text": "Equally cold, -3C and snow."}],
            lambda url, k=task: rewoo(url, k),
        )


if __name__ == "__main__":
    main()
