"""CrewAI: crews whose agents use tools (agentic), and a crew task with no tools (single-turn)."""

from __future__ import annotations

import os

from _common import run, session
from crewai import LLM, Agent, Crew, Task
from crewai.tools import tool

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
TASKS = [
    "Find out whether it will rain in Amsterdam today and advise on a bike commute.",
    "Research the current price of ETH and write a two-line note.",
    "Check the weather in Seattle and draft a picnic plan.",
    "Look up the population of Porto and summarise it.",
    "Is it a good day for a run in Zurich?",
    "Write a short note on the weather in Nairobi.",
]
FINAL = "Thought: I now know the final answer\nFinal Answer: It is sunny, go ahead."
REACT = 'Thought: I should check the weather first.\nAction: get_weather\nAction Input: {"city": "Amsterdam"}'


@tool("get_weather")
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return "sunny, 21C"


@tool("web_search")
def web_search(query: str) -> str:
    """Search the web for a query."""
    return "ETH: 3,100 USD"


def llm(url: str) -> LLM:
    return LLM(model="openai/gpt-5.4-mini", base_url=url, api_key="sk-capture")


def main() -> None:
    for t, text in enumerate(TASKS):

        def with_tools(url: str, text: str = text) -> None:
            researcher = Agent(
                role="Local researcher",
                goal="Give accurate, current local information",
                backstory="You check facts with your tools before answering.",
                tools=[get_weather, web_search],
                llm=llm(url),
                verbose=False,
                max_iter=3,
            )
            task = Task(description=text, expected_output="A two-line answer", agent=researcher)
            Crew(agents=[researcher], tasks=[task], verbose=False).kickoff()

        run(
            session("tool_agent", "agentic", t),
            [{"tool": "get_weather", "args": {"city": "Amsterdam"}, "else_text": REACT}, {"text": FINAL}],
            with_tools,
        )

        def two_agents(url: str, text: str = text) -> None:
            researcher = Agent(
                role="Researcher",
                goal="Collect facts with tools",
                backstory="A careful analyst.",
                tools=[web_search],
                llm=llm(url),
                verbose=False,
                max_iter=3,
            )
            # one agent with tools for both tasks: a second agent reading the first one's output would be agentic
            # too (its input is a model's result in the same task), but would offer no tools to show it
            tasks = [
                Task(description=text, expected_output="Bullet facts", agent=researcher),
                Task(
                    description="Check one more source, then write the note.",
                    expected_output="Two lines",
                    agent=researcher,
                ),
            ]
            Crew(agents=[researcher], tasks=tasks, verbose=False).kickoff()

        react = REACT.replace("get_weather", "web_search")
        run(
            session("research_crew", "agentic", t),
            [
                {"tool": "web_search", "args": {"query": "x"}, "else_text": react},
                {"text": FINAL},
                {"tool": "web_search", "args": {"query": "y"}, "else_text": react},
                {"text": FINAL},
            ],
            two_agents,
        )

        def no_tools(url: str, text: str = text) -> None:
            writer = Agent(
                role="Copywriter",
                goal="Write friendly short copy",
                backstory="You write marketing copy.",
                llm=llm(url),
                verbose=False,
            )
            Crew(
                agents=[writer],
                tasks=[
                    Task(description=f"Rewrite as a friendly tweet: {text}", expected_output="One tweet", agent=writer)
                ],
                verbose=False,
            ).kickoff()

        run(session("writer_no_tools", "single_turn", t), [{"text": FINAL}], no_tools)


if __name__ == "__main__":
    main()
