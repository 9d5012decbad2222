"""AutoGen AgentChat: tool-using assistants and a round-robin team (agentic); assistants without tools (single-turn)."""

from __future__ import annotations

import asyncio

from _common import run, session
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_ext.models.openai import OpenAIChatCompletionClient

TASKS = [
    "What's the weather in Madrid and should I pack sunscreen?",
    "Look up stock NVDA and tell me if it moved today.",
    "Is it windy in Chicago?",
    "Check the weather in Cape Town for a hike.",
    "What's MSFT trading at?",
    "Weather in Reykjavik this afternoon?",
]


async def get_weather(city: str) -> str:
    """Current weather for a city."""
    return "sunny, 30C"


async def get_stock(symbol: str) -> str:
    """Latest price of a stock ticker."""
    return "123.45, +2%"


def client(url: str) -> OpenAIChatCompletionClient:
    return OpenAIChatCompletionClient(model="gpt-4o", base_url=url, api_key="sk-capture")


def main() -> None:
    for t, prompt in enumerate(TASKS):

        def tools(url: str, p: str = prompt) -> None:
            agent = AssistantAgent(
                "assistant",
                model_client=client(url),
                tools=[get_weather, get_stock],
                reflect_on_tool_use=True,
                system_message="You are a helpful assistant. Use tools to answer.",
            )
            asyncio.run(agent.run(task=p))

        run(session("tool_agent", "agentic", t), ["auto", {"text": "Yes, pack sunscreen."}], tools)

        def team(url: str, p: str = prompt) -> None:
            writer = AssistantAgent(
                "writer",
                model_client=client(url),
                system_message="You write a short answer using the tools.",
                tools=[get_weather],
            )
            critic = AssistantAgent(
                "critic",
                model_client=client(url),
                system_message="You review the writer's answer. Reply APPROVE when it is good.",
            )
            asyncio.run(
                RoundRobinGroupChat([writer, critic], termination_condition=MaxMessageTermination(5)).run(task=p)
            )

        run(session("team", "agentic", t), ["auto", {"text": "Pack sunscreen."}, {"text": "APPROVE"}], team)

        def plain(url: str, p: str = prompt) -> None:
            agent = AssistantAgent(
                "translator", model_client=client(url), system_message="Translate the user's message into Spanish."
            )
            asyncio.run(agent.run(task=p))

        run(session("translator", "single_turn", t), [{"text": "Hola."}], plain)


if __name__ == "__main__":
    main()
