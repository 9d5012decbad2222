"""LangGraph plan-and-execute: a planner, a tool-using executor per step, and a replanner, all inside one loop.

The planner's plan and the replanner's revised plan go back to the executor model, and the executor's results
to the replanner: every call serves the same task's loop (agentic), though the planner and replanner offer no
tools and answer through a JSON schema.
"""

from __future__ import annotations

from typing import Annotated, TypedDict

from _common import run, session
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import create_react_agent
from pydantic import BaseModel, Field

TASKS = [
    "Find the weather in Oslo and post a packing tip to #travel.",
    "Check ticket INC-2231 and tell its owner in #ops.",
    "Get Denver's weather and post whether flights may be delayed.",
    "Look up INC-9 and post its status to #support.",
    "Get Helsinki's temperature and post a clothing tip to #travel.",
    "Check INC-77 and post a summary to #ops.",
]


@tool
def search(query: str) -> str:
    """Search for current facts: weather, tickets."""
    return "-3C, snow" if "weather" in query.lower() else "open, assigned to Dana"


@tool
def post_message(channel: str, text: str) -> str:
    """Post a message to a chat channel."""
    return "posted"


class Plan(BaseModel):
    """Steps to follow, in order."""

    steps: list[str] = Field(description="the steps, in order")


class Act(BaseModel):
    """Either the answer to the user, or the remaining steps."""

    response: str | None = Field(default=None, description="the answer, when the task is done")
    steps: list[str] | None = Field(default=None, description="the remaining steps, when it is not")


class State(TypedDict):
    input: str
    plan: list[str]
    past_steps: Annotated[list[tuple[str, str]], lambda a, b: a + b]
    response: str | None


def plan_and_execute(url: str, task: str) -> None:
    model = ChatOpenAI(model="gpt-4o-mini", base_url=url, api_key="sk-capture", max_retries=0)
    executor = create_react_agent(model, [search, post_message], prompt="You are a helpful assistant.")
    planner = model.with_structured_output(Plan)
    replanner = model.with_structured_output(Act)

    def plan_step(state: State) -> dict:
        prompt = f"For the given objective, come up with a simple step by step plan.\n\nObjective: {state['input']}"
        return {"plan": planner.invoke([HumanMessage(prompt)]).steps}

    def execute_step(state: State) -> dict:
        listing = "\n".join(f"{i + 1}. {s}" for i, s in enumerate(state["plan"]))
        prompt = f"For the following plan:\n{listing}\n\nYou are tasked with executing step 1, {state['plan'][0]}."
        result = executor.invoke({"messages": [HumanMessage(prompt)]})
        return {"past_steps": [(state["plan"][0], result["messages"][-1].content)]}

    def replan_step(state: State) -> dict:
        done = "\n".join(f"{s}: {r}" for s, r in state["past_steps"])
        prompt = (
            f"Your objective was: {state['input']}\nYour original plan was: {state['plan']}\n"
            f"You have currently done the following steps:\n{done}\n\nUpdate your plan accordingly. If no more steps "
            "are needed and you can return to the user, respond with that."
        )
        act = replanner.invoke([HumanMessage(prompt)])
        return {"response": act.response} if act.response else {"plan": act.steps or []}

    graph = StateGraph(State)
    graph.add_node("planner", plan_step)
    graph.add_node("agent", execute_step)
    graph.add_node("replan", replan_step)
    graph.add_edge(START, "planner")
    graph.add_edge("planner", "agent")
    graph.add_edge("agent", "replan")
    graph.add_conditional_edges("replan", lambda s: END if s.get("response") else "agent")
    graph.compile().invoke({"input": task, "past_steps": [], "response": None}, {"recursion_limit": 12})


def main() -> None:
    for t, task in enumerate(TASKS):
        run(
            session("plan_and_execute", "agentic", t),
            [
                {"text": '{"steps": ["Search for the facts", "Post the message"]}'},
                {"tool": "search", "args": {"query": f"weather {task}"}},
                {"text": "Found: -3C, snow."},
                {"text": '{"response": null, "steps": ["Post the message"]}'},
                {"tool": "post_message", "args": {"channel": "#ops", "text": "Update posted."}},
                {"text": "Posted."},
                {"text": '{"response": "Done: found the facts and posted them.", "steps": null}'},
            ],
            lambda url, k=task: plan_and_execute(url, k),
        )


if __name__ == "__main__":
    main()
