"""Strands Agents: a tool-using agent (its event loop runs the tools and sends results back) and one without tools.

The agent's event loop is agentic at every call; an Agent with no tools answering once is single-turn.
"""

from __future__ import annotations

from _common import run, session
from _tasks import OPS_QUESTIONS
from strands import Agent, tool
from strands.models.openai import OpenAIModel

TASKS = OPS_QUESTIONS


@tool
def get_weather(city: str) -> str:
    """Current weather for a city.

    Args:
        city: the city's name
    """
    return "-3C, snow"


@tool
def lookup_ticket(ticket_id: str) -> str:
    """Look a support ticket up by id.

    Args:
        ticket_id: the ticket's id
    """
    return "Error: ticket service unavailable" if ticket_id == "INC-9" else "open, assigned to Dana"


def model(url: str) -> OpenAIModel:
    return OpenAIModel(client_args={"api_key": "sk-capture", "base_url": url}, model_id="gpt-4o-mini")


def main() -> None:
    for t, question in enumerate(TASKS):
        run(
            session("tool_agent", "agentic", t),
            ["auto", {"text": "Done."}],
            lambda url, q=question: Agent(
                model=model(url),
                tools=[get_weather, lookup_ticket],
                system_prompt="You help an ops team.",
                callback_handler=None,
            )(q),
        )
        run(
            session("agent_no_tools", "single_turn", t),
            [{"text": "Sure."}],
            lambda url, q=question: Agent(
                model=model(url), system_prompt="You rewrite text politely.", callback_handler=None
            )(q),
        )


if __name__ == "__main__":
    main()
