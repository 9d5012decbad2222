"""Langroid: tools spoken as JSON in text (its ToolMessage protocol), the same through the tools API, plain chat.

With `use_tools=True` Langroid writes each tool's JSON format into the system prompt and handles a reply that
holds `{"request": "get_weather", ...}`, sending the result back as the next user turn (agentic); with
`use_tools_api=True` it offers them as tools (agentic). A ChatAgent answering once, no tools, is single-turn.
"""

from __future__ import annotations

import json

from _common import offline_tokenizers, run, session
from _tasks import WEATHER_TASKS

offline_tokenizers()
import langroid as lr  # noqa: E402
from langroid.agent.tool_message import ToolMessage  # noqa: E402
from langroid.language_models.openai_gpt import OpenAIGPTConfig  # noqa: E402

TASKS = WEATHER_TASKS


class WeatherTool(ToolMessage):
    request: str = "get_weather"
    purpose: str = "To find the current weather in a <city>."
    city: str

    def handle(self) -> str:
        return "-3C, snow"


def agent(url: str, text_tools: bool, tools: bool = True) -> lr.ChatAgent:
    llm = OpenAIGPTConfig(chat_model="gpt-4o-mini", api_base=url, api_key="sk-capture", stream=False)
    config = lr.ChatAgentConfig(
        llm=llm,
        system_message="You help travellers. Say DONE and the answer when you have it.",
        use_tools=text_tools,
        use_functions_api=not text_tools,
        use_tools_api=not text_tools,
    )
    a = lr.ChatAgent(config)
    if tools:
        a.enable_message(WeatherTool)
    return a


def task(url: str, question: str, text_tools: bool) -> None:
    lr.Task(agent(url, text_tools), interactive=False).run(question, turns=6)


def main() -> None:
    for t, (question, city) in enumerate(TASKS):
        run(
            session("json_tool_in_text", "agentic", t),
            [
                {"text": json.dumps({"request": "get_weather", "city": city})},
                {"text": "DONE -3C and snow: wear gloves."},
            ],
            lambda url, q=question: task(url, q, True),
        )
        run(
            session("tools_api", "agentic", t),
            [
                {"tool": "get_weather", "args": {"request": "get_weather", "city": city}},
                {"text": "DONE -3C and snow: wear gloves."},
            ],
            lambda url, q=question: task(url, q, False),
        )
        run(
            session("chat", "single_turn", t),
            [{"text": "Layers and gloves."}],
            lambda url, q=question: agent(url, True, tools=False).llm_response(q),
        )


if __name__ == "__main__":
    main()
