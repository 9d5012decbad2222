"""pydantic-ai: tool agents (agentic) and structured-output agents with no tools (single-turn), both APIs."""

from __future__ import annotations

from _common import run, session
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.openai import OpenAIProvider

TASKS = [
    "What's the weather in Rome and is it a good day for the Colosseum?",
    "Look up order 5521 and tell me when it ships.",
    "Is it raining in Dublin?",
    "Order 310 is late, what happened?",
    "Plan my afternoon in Kyoto around the weather.",
    "Check order 88 and the weather where it ships from.",
]


class City(BaseModel):
    city: str
    country: str


class Verdict(BaseModel):
    correct: bool
    reason: str


def model(url: str, api: str):
    provider = OpenAIProvider(base_url=url, api_key="sk-capture")
    return (
        OpenAIChatModel("gpt-5.4-mini", provider=provider)
        if api == "chat"
        else OpenAIResponsesModel("gpt-5.4-mini", provider=provider)
    )


def tool_agent(m) -> Agent:
    agent = Agent(m, instructions="You are a helpful travel and orders assistant. Use tools when needed.")

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return "sunny, 24C"

    @agent.tool_plain
    def lookup_order(order_id: str) -> str:
        """Look an order up."""
        return "ships Monday"

    return agent


def main() -> None:
    for api in ("chat", "responses"):
        for t, prompt in enumerate(TASKS):
            run(
                session(f"tool_agent_{api}", "agentic", t),
                ["auto", {"text": "Sunny, go now."}],
                lambda url, p=prompt, a=api: tool_agent(model(url, a)).run_sync(p),
            )

            def typed_tool_agent(url: str, p: str = prompt, a: str = api) -> None:
                agent = Agent(
                    model(url, a), output_type=City, instructions="Answer with the city the user should visit."
                )

                @agent.tool_plain
                def get_weather(city: str) -> str:
                    """Current weather for a city."""
                    return "sunny"

                agent.run_sync(p)

            run(
                session(f"tools_and_output_{api}", "agentic", t),
                [
                    {"tool": "get_weather", "args": {"city": "Rome"}},
                    {"tool": "final_result", "args": {"city": "Rome", "country": "Italy"}},
                ],
                typed_tool_agent,
            )

            def extract(url: str, p: str = prompt, a: str = api) -> None:
                Agent(model(url, a), output_type=City, instructions="Extract the city mentioned in the text.").run_sync(
                    p
                )

            run(
                session(f"extract_{api}", "single_turn", t),
                [{"tool": "final_result", "args": {"city": "Rome", "country": "Italy"}}],
                extract,
            )

            def judge(url: str, p: str = prompt, a: str = api) -> None:
                Agent(
                    model(url, a),
                    output_type=Verdict,
                    system_prompt="You are a strict grader. Decide whether the answer is correct.",
                ).run_sync(f"Question: {p}\nAnswer: It is sunny.\nIs the answer correct?")

            run(
                session(f"judge_{api}", "single_turn", t),
                [{"tool": "final_result", "args": {"correct": True, "reason": "ok"}}],
                judge,
            )

            run(
                session(f"chat_{api}", "single_turn", t),
                [{"text": "Here you go."}],
                lambda url, p=prompt, a=api: Agent(model(url, a), instructions="Be concise.").run_sync(p),
            )


if __name__ == "__main__":
    main()
