"""Atomic Agents: an orchestrator whose output schema is a union of tool inputs, run in a loop, and a Q&A agent.

Each orchestrator call is a forced extraction by shape (instructor's tool mode, one function), but the
application runs the tool its output names and adds the result to the agent's history with
`add_tool_result` before calling it again: every call of that loop is agentic. A chat agent answering once,
through the same forced schema, is single-turn.
"""

from __future__ import annotations

import instructor
import openai
from _common import run, session
from _tasks import WEATHER_TASKS
from atomic_agents import AgentConfig, AtomicAgent, BaseIOSchema
from atomic_agents.context import ChatHistory, SystemPromptGenerator
from pydantic import Field

TASKS = WEATHER_TASKS


class UserMessage(BaseIOSchema):
    """The user's message."""

    chat_message: str = Field(..., description="what the user said")


class WeatherInput(BaseIOSchema):
    """Look up the current weather for a city."""

    city: str = Field(..., description="the city")


class FinalAnswer(BaseIOSchema):
    """The answer to give the user once the facts are in."""

    answer: str = Field(..., description="the answer")


class OrchestratorOutput(BaseIOSchema):
    """The orchestrator's next move: a tool to run, or the final answer."""

    reasoning: str = Field(..., description="why this is the next move")
    action: WeatherInput | FinalAnswer = Field(..., description="the tool input to run, or the final answer")


class WeatherOutput(BaseIOSchema):
    """The weather tool's result."""

    conditions: str = Field(..., description="the current conditions")


class Reply(BaseIOSchema):
    """A reply to the user."""

    chat_message: str = Field(..., description="the reply")


def client(url: str) -> instructor.Instructor:
    return instructor.from_openai(openai.OpenAI(base_url=url, api_key="sk-capture", max_retries=0))


def orchestrate(url: str, question: str) -> None:
    prompt = SystemPromptGenerator(
        background=["You are an orchestrator: pick the tool that moves the user's request forward."],
        steps=["Decide whether a tool is needed.", "Name its input, or give the final answer."],
        output_instructions=["Answer only when the tool results are in your history."],
    )
    agent = AtomicAgent[UserMessage, OrchestratorOutput](
        config=AgentConfig(
            client=client(url), model="gpt-4o-mini", history=ChatHistory(), system_prompt_generator=prompt
        )
    )
    out = agent.run(UserMessage(chat_message=question))
    for _ in range(3):
        if isinstance(out.action, FinalAnswer):
            return
        agent.add_tool_result(WeatherOutput(conditions="-3C, snow"))
        out = agent.run()


def chat(url: str, question: str) -> None:
    prompt = SystemPromptGenerator(background=["You are a friendly travel writer."])
    agent = AtomicAgent[UserMessage, Reply](
        config=AgentConfig(
            client=client(url), model="gpt-4o-mini", history=ChatHistory(), system_prompt_generator=prompt
        )
    )
    agent.run(UserMessage(chat_message=question))


def main() -> None:
    for t, (question, city) in enumerate(TASKS):
        run(
            session("orchestrator_loop", "agentic", t),
            [
                {"tool": "OrchestratorOutput", "args": {"reasoning": "Need the weather.", "action": {"city": city}}},
                {
                    "tool": "OrchestratorOutput",
                    "args": {"reasoning": "Facts are in.", "action": {"answer": "-3C and snow: wear gloves."}},
                },
            ],
            lambda url, q=question: orchestrate(url, q),
        )
        run(
            session("chat_agent", "single_turn", t),
            [{"tool": "Reply", "args": {"chat_message": "Layers and gloves."}}],
            lambda url, q=question: chat(url, q),
        )


if __name__ == "__main__":
    main()
