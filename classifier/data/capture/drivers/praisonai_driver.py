"""PraisonAI agents on the Responses API: a tool agent (tools run, results sent back: agentic), one without tools.

Its `reflection=True` agent made a single call here (no critique round), so it is not captured: one call whose
answer goes to the user would be single-turn, not the reflection loop it stands for.
"""

from __future__ import annotations

import os

from _common import offline_tokenizers, run, session
from _tasks import WEATHER_TASKS

offline_tokenizers()
os.environ.setdefault("PRAISONAI_TELEMETRY_DISABLED", "true")
from praisonaiagents import Agent  # noqa: E402

TASKS = WEATHER_TASKS


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return "-3C, snow"


def agent(url: str, **kwargs: object) -> Agent:
    os.environ["OPENAI_BASE_URL"] = url  # some of its clients read only the environment
    return Agent(instructions="You help travellers.", llm="gpt-4o-mini", base_url=url, api_key="sk-capture", **kwargs)


def main() -> None:
    for t, (question, city) in enumerate(TASKS):
        run(
            session("tool_agent", "agentic", t),
            [{"tool": "get_weather", "args": {"city": city}}, {"text": "-3C and snow: wear gloves."}],
            lambda url, q=question: agent(url, tools=[get_weather]).start(q),
        )
        run(
            session("agent_no_tools", "single_turn", t),
            [{"text": "Layers."}],
            lambda url, q=question: agent(url).start(q),
        )


if __name__ == "__main__":
    main()
