"""Semantic Kernel: a ChatCompletionAgent with a plugin (auto function calling), and prompt functions called once.

The agent's kernel runs the functions the model calls and sends the results back (agentic). A prompt function
or an agent without plugins answering once is single-turn.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from _common import run, session
from _tasks import OPS_QUESTIONS
from openai import AsyncOpenAI
from semantic_kernel import Kernel
from semantic_kernel.agents import ChatCompletionAgent
from semantic_kernel.connectors.ai.open_ai import OpenAIChatCompletion
from semantic_kernel.functions import kernel_function

TASKS = OPS_QUESTIONS


class OpsPlugin:
    """What the operations agent may call."""

    @kernel_function(description="Current weather for a city.")
    def get_weather(self, city: Annotated[str, "the city"]) -> str:
        return "-3C, snow"

    @kernel_function(description="Look a support ticket up by id.")
    def lookup_ticket(self, ticket_id: Annotated[str, "the ticket id"]) -> str:
        return "open, assigned to Dana"


def service(url: str) -> OpenAIChatCompletion:
    return OpenAIChatCompletion(ai_model_id="gpt-4o-mini", async_client=AsyncOpenAI(base_url=url, api_key="sk-capture"))


def agent(url: str, question: str, plugins: bool) -> None:
    async def go() -> None:
        a = ChatCompletionAgent(
            service=service(url),
            name="ops",
            instructions="You help an operations team." if plugins else "You rewrite text as one friendly sentence.",
            plugins=[OpsPlugin()] if plugins else None,
        )
        await a.get_response(messages=question)

    asyncio.run(go())


def prompt_function(url: str, question: str) -> None:
    async def go() -> None:
        kernel = Kernel()
        kernel.add_service(service(url))
        await kernel.invoke_prompt(
            "Classify the request into weather or ticket. Request: {{$request}}", request=question
        )

    asyncio.run(go())


def main() -> None:
    for t, question in enumerate(TASKS):
        run(
            session("agent_with_plugin", "agentic", t),
            ["auto", {"text": "Done."}],
            lambda url, q=question: agent(url, q, True),
        )
        run(
            session("agent_without_plugins", "single_turn", t),
            [{"text": "Sure thing!"}],
            lambda url, q=question: agent(url, q, False),
        )
        run(
            session("prompt_function", "single_turn", t),
            [{"text": "weather"}],
            lambda url, q=question: prompt_function(url, q),
        )


if __name__ == "__main__":
    main()
