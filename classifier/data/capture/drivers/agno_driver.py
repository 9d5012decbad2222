"""Agno: a tool-using Agent, a Team whose leader delegates to members, and an Agent without tools.

The agent runs its tools and sends the results back, and the team leader's delegation reaches a member whose
answer returns to the leader (agentic). An Agent with no tools answering once is single-turn.
"""

from __future__ import annotations

from _common import run, session
from _tasks import WEATHER_QUESTIONS
from agno.agent import Agent
from agno.models.openai import OpenAIChat
from agno.team import Team

TASKS = WEATHER_QUESTIONS


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return "-3C, snow"


def model(url: str) -> OpenAIChat:
    return OpenAIChat(id="gpt-4o-mini", base_url=url, api_key="sk-capture", max_retries=0)


def team(url: str, question: str) -> None:
    researcher = Agent(name="Researcher", role="Finds the weather", model=model(url), tools=[get_weather])
    writer = Agent(name="Writer", role="Writes short advice", model=model(url))
    Team(name="Travel desk", members=[researcher, writer], model=model(url)).run(question)


def main() -> None:
    for t, question in enumerate(TASKS):
        run(
            session("tool_agent", "agentic", t),
            ["auto", {"text": "Done."}],
            lambda url, q=question: Agent(model=model(url), tools=[get_weather], instructions="Help travellers.").run(
                q
            ),
        )
        run(
            session("team", "agentic", t),
            [
                {
                    "tool": "delegate_task_to_member",
                    "args": {"member_id": "researcher", "task": f"Weather: {question}"},
                },
                {"tool": "get_weather", "args": {"city": "Oslo"}},
                {"text": "-3C, snow."},
                {
                    "tool": "delegate_task_to_member",
                    "args": {"member_id": "writer", "task": "Advice for -3C and snow."},
                },
                {"text": "Wear gloves and a warm coat."},
                {"text": "It is -3C with snow: wear gloves and a warm coat."},
            ],
            lambda url, q=question: team(url, q),
        )
        run(
            session("agent_no_tools", "single_turn", t),
            [{"text": "Layers and gloves."}],
            lambda url, q=question: Agent(model=model(url), instructions="You are a travel writer.").run(q),
        )


if __name__ == "__main__":
    main()
