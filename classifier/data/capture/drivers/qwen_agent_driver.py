"""Qwen-Agent: function calling spoken in text (`<tool_call>` in the system prompt), its ReAct agent, plain chat.

Qwen-Agent renders the tools into the system prompt and parses `<tool_call>` JSON out of the reply; the tool's
result comes back as a `<tool_response>` (agentic). Its ReActChat agent uses `Action:` / `Observation:` lines in
the user turn (agentic). An Assistant without tools answering once is single-turn.
"""

from __future__ import annotations

import json

from _common import offline_tokenizers, run, session
from _tasks import WEATHER_TASKS

offline_tokenizers()
from qwen_agent.agents import Assistant, ReActChat  # noqa: E402
from qwen_agent.tools.base import BaseTool, register_tool  # noqa: E402

TASKS = WEATHER_TASKS


@register_tool("get_weather")
class GetWeather(BaseTool):
    description = "Current weather for a city."
    parameters = [{"name": "city", "type": "string", "description": "the city", "required": True}]

    def call(self, params: str, **kwargs: object) -> str:
        return "[]" if "Seattle" in params else "-3C, snow"


def cfg(url: str) -> dict:
    return {"model": "gpt-4o-mini", "model_server": url, "api_key": "sk-capture", "generate_cfg": {"max_retries": 0}}


def drain(agent: Assistant, question: str) -> None:
    for _ in agent.run(messages=[{"role": "user", "content": question}]):
        pass


def main() -> None:
    for t, (question, city) in enumerate(TASKS):
        call = json.dumps({"name": "get_weather", "arguments": {"city": city}})
        run(
            session("assistant_text_fncall", "agentic", t),
            [{"text": f"<tool_call>\n{call}\n</tool_call>"}, {"text": "It is -3C with snow: wear gloves."}],
            lambda url, q=question: drain(
                Assistant(llm=cfg(url), function_list=["get_weather"], system_message="You help travellers."), q
            ),
        )
        run(
            session("react_chat", "agentic", t),
            [
                {"text": f'I should check the weather.\nAction: get_weather\nAction Input: {{"city": "{city}"}}'},
                {"text": "I now know the final answer\nFinal Answer: Wear gloves."},
            ],
            lambda url, q=question: drain(ReActChat(llm=cfg(url), function_list=["get_weather"]), q),
        )
        run(
            session("assistant_chat", "single_turn", t),
            [{"text": "Layers and gloves."}],
            lambda url, q=question: drain(Assistant(llm=cfg(url), system_message="You are a travel writer."), q),
        )


if __name__ == "__main__":
    main()
