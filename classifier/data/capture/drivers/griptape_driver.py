"""Griptape: an Agent whose tools are spoken in text (`use_native_tools=False`) and the same through tools.

Without native tools the system prompt defines a `Thought:` / `Actions: [...]` JSON protocol and Griptape
returns each action's result (or its input error) as a `<|Response|>:` turn; with them it offers tools
(agentic either way). An Agent with
no tools answering once is single-turn.
"""

from __future__ import annotations

import json

from _common import run, session
from _tasks import TEAM_TASKS
from griptape.drivers.prompt.openai import OpenAiChatPromptDriver
from griptape.structures import Agent
from griptape.tools import CalculatorTool

TASKS = TEAM_TASKS
EXPRESSIONS = ["3 * 7", "120 / 8", "2 ** 10", "17 + 25", "365 // 7", "9 * 9"]


def driver(url: str, native: bool) -> OpenAiChatPromptDriver:
    return OpenAiChatPromptDriver(model="gpt-4o-mini", base_url=url, api_key="sk-capture", use_native_tools=native)


def main() -> None:
    for t, (task, expression) in enumerate(zip(TASKS, EXPRESSIONS, strict=True)):
        prompt = f"{task} Also compute {expression} for the headcount."
        wrong = [{"tag": "calc1", "name": "CalculatorTool", "path": "calculate", "input": {"values": {"x": 1}}}]
        action = [{"tag": "calc2", "name": "CalculatorTool", "path": "calculate", "input": {"expression": expression}}]
        run(
            session("text_actions", "agentic", t),
            [
                {"text": f"Thought: I need to compute the headcount.\nActions: {json.dumps(wrong)}"},
                {"text": f"Thought: The input was wrong; retry.\nActions: {json.dumps(action)}"},
                {"text": "Answer: Snow today; the headcount is done."},
            ],
            lambda url, p=prompt: Agent(prompt_driver=driver(url, False), tools=[CalculatorTool()]).run(p),
        )
        run(
            session("native_tools", "agentic", t),
            [{"tool": "CalculatorTool_calculate", "args": {"expression": expression}}, {"text": "Done."}],
            lambda url, p=prompt: Agent(prompt_driver=driver(url, True), tools=[CalculatorTool()]).run(p),
        )
        run(
            session("agent_no_tools", "single_turn", t),
            [{"text": "Snow today: take care."}],
            lambda url, k=task: Agent(prompt_driver=driver(url, True)).run(k),
        )


if __name__ == "__main__":
    main()
