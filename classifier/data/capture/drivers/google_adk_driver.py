"""Google's Agent Development Kit (through LiteLLM): a tool agent, a coordinator that transfers to sub-agents.

The runner executes the tools the model calls and sends results back; a coordinator's `transfer_to_agent`
hands the conversation to a sub-agent of the same task (agentic). An LlmAgent without tools or sub-agents
answering once is single-turn.
"""

from __future__ import annotations

import asyncio
import os

from _common import offline_tokenizers, run, session
from _tasks import WEATHER_TASKS

offline_tokenizers()
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
from google.adk.agents import LlmAgent  # noqa: E402
from google.adk.models.lite_llm import LiteLlm  # noqa: E402
from google.adk.runners import InMemoryRunner  # noqa: E402
from google.genai import types  # noqa: E402

TASKS = WEATHER_TASKS


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return "-3C, snow"


def model(url: str) -> LiteLlm:
    return LiteLlm(model="openai/gpt-4o-mini", api_base=url, api_key="sk-capture")


def ask(agent: LlmAgent, question: str) -> None:
    async def go() -> None:
        runner = InMemoryRunner(agent=agent, app_name="capture")
        await runner.session_service.create_session(app_name="capture", user_id="u", session_id="s")
        message = types.Content(role="user", parts=[types.Part(text=question)])
        async for _ in runner.run_async(user_id="u", session_id="s", new_message=message):
            pass

    asyncio.run(go())


def tool_agent(url: str, question: str) -> None:
    ask(LlmAgent(name="weather", model=model(url), instruction="Help travellers.", tools=[get_weather]), question)


def coordinator(url: str, question: str) -> None:
    weather = LlmAgent(name="weather_agent", model=model(url), description="Finds the weather.", tools=[get_weather])
    writer = LlmAgent(name="writer_agent", model=model(url), description="Writes short travel advice.")
    lead = LlmAgent(
        name="coordinator",
        model=model(url),
        instruction="Route the request to the right agent.",
        sub_agents=[weather, writer],
    )
    ask(lead, question)


def plain(url: str, question: str) -> None:
    ask(LlmAgent(name="writer", model=model(url), instruction="You are a travel writer."), question)


def main() -> None:
    for t, (question, city) in enumerate(TASKS):
        run(
            session("tool_agent", "agentic", t),
            [{"tool": "get_weather", "args": {"city": city}}, {"text": "-3C and snow: wear gloves."}],
            lambda url, q=question: tool_agent(url, q),
        )
        run(
            session("coordinator", "agentic", t),
            [
                {"tool": "transfer_to_agent", "args": {"agent_name": "weather_agent"}},
                {"tool": "get_weather", "args": {"city": city}},
                {"text": "-3C and snow: wear gloves."},
            ],
            lambda url, q=question: coordinator(url, q),
        )
        run(session("agent_no_tools", "single_turn", t), [{"text": "Layers."}], lambda url, q=question: plain(url, q))


if __name__ == "__main__":
    main()
