"""LangGraph loops whose steering calls offer no tools: a reflection loop, and a condenser for a running agent.

Reflection: a writer drafts, a critic's critique goes back to the writer, who revises (every call agentic).
Condenser: langmem's SummarizationNode runs before the agent's model call once the history grows, and the
summary is what the agent continues from (agentic, like the agent's own steps).
"""

from __future__ import annotations

from typing import Any

from _common import run, session
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import create_react_agent
from langgraph.prebuilt.chat_agent_executor import AgentState

TASKS = [
    "Write a three-line note for staff about today's snow in Oslo.",
    "Write a short product blurb for a winter jacket.",
    "Draft a two-sentence apology for a delayed order.",
    "Write a tweet announcing our new Helsinki office.",
    "Write a short welcome message for new support engineers.",
    "Draft a one-paragraph summary of a snow-day policy.",
]


@tool
def search(query: str) -> str:
    """Search for current facts."""
    return "Oslo: -3C, heavy snow, trains delayed 20 minutes. " * 40


def llm(url: str) -> ChatOpenAI:
    return ChatOpenAI(model="gpt-4o-mini", base_url=url, api_key="sk-capture", max_retries=0)


def reflection(url: str, task: str) -> None:
    model = llm(url)
    writer = "You write short texts for a company. Revise your text when given a critique."
    critic = "You are a demanding editor. Critique the text: what to cut, what to sharpen. Be specific."

    def generate(state: MessagesState) -> dict:
        return {"messages": [model.invoke([SystemMessage(writer), *state["messages"]])]}

    def reflect(state: MessagesState) -> dict:
        flip = {"ai": HumanMessage, "human": AIMessage}
        turns = [state["messages"][0], *(flip[m.type](m.content) for m in state["messages"][1:])]
        return {"messages": [HumanMessage(model.invoke([SystemMessage(critic), *turns]).content)]}

    graph = StateGraph(MessagesState)
    graph.add_node("generate", generate)
    graph.add_node("reflect", reflect)
    graph.add_edge(START, "generate")
    graph.add_conditional_edges("generate", lambda s: END if len(s["messages"]) > 4 else "reflect")
    graph.add_edge("reflect", "generate")
    graph.compile().invoke({"messages": [HumanMessage(task)]})


def condensed_agent(url: str, task: str) -> None:
    from langmem.short_term import SummarizationNode

    model = llm(url)
    summarize = SummarizationNode(model=model, max_tokens=400, max_tokens_before_summary=300, max_summary_tokens=128)

    class State(AgentState):
        context: dict[str, Any]

    agent = create_react_agent(model, [search], pre_model_hook=summarize, state_schema=State)
    agent.invoke({"messages": [HumanMessage(f"Look up today's conditions, then: {task}")], "context": {}})


def main() -> None:
    for t, task in enumerate(TASKS):
        run(
            session("reflection_loop", "agentic", t),
            [
                {"text": "Snow today. Trains late. Take care."},
                {"text": "Too terse: say what staff should do, and when the office opens."},
                {
                    "text": "Heavy snow today: trains run 20 minutes late. The office opens at 10; work from home if "
                    "you can."
                },
                {"text": "Better. Cut 'if you can'."},
                {"text": "Heavy snow today: trains run 20 minutes late. The office opens at 10."},
            ],
            lambda url, k=task: reflection(url, k),
        )
        run(
            session("condensed_agent", "agentic", t),
            [
                {"tool": "search", "args": {"query": "Oslo weather today"}},
                {
                    "text": "The user asked for today's conditions; the search found -3C, heavy snow, "
                    "trains 20 min late."
                },
                {"text": "Heavy snow and delayed trains today: the office opens at 10."},
            ],
            lambda url, k=task: condensed_agent(url, k),
        )


if __name__ == "__main__":
    main()
