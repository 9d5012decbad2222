"""OpenAI Agents SDK (`openai-agents`): tool agents, handoffs, forced first tools, structured and plain single-turn agents.

Both APIs: the SDK's default Responses model and its Chat Completions model.
"""

from __future__ import annotations

import asyncio

from _common import run, session
from agents import (
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai import AsyncOpenAI
from pydantic import BaseModel

set_tracing_disabled(True)

TASKS = [
    ("What's the weather in Lisbon and should I bring a jacket?", "Lisbon"),
    ("Customer 1042 says order 77 never arrived; check it and refund if needed.", "order 77"),
    ("Find the open invoices for ACME and email the total to finance.", "ACME"),
    ("How warm is it in Osaka today?", "Osaka"),
    ("Order 9001 arrived broken, sort it out.", "order 9001"),
    ("Summarise what's on my calendar tomorrow and book a room for the 10am.", "calendar"),
]


@function_tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"{city}: 18C, light rain"


@function_tool
def lookup_order(order_id: str) -> str:
    """Look an order up by id."""
    return f"order {order_id}: shipped, lost in transit"


@function_tool
def refund_order(order_id: str, amount: float) -> str:
    """Refund an order."""
    return "refunded"


@function_tool
def send_email(to: str, subject: str, body: str) -> str:
    """Send an email."""
    return "sent"


class Contact(BaseModel):
    name: str
    email: str
    company: str


class Sentiment(BaseModel):
    label: str
    score: float


def model_for(url: str, api: str):
    client = AsyncOpenAI(base_url=url, api_key="sk-capture", max_retries=0)
    if api == "chat":
        return OpenAIChatCompletionsModel(model="gpt-5.4-mini", openai_client=client)
    return OpenAIResponsesModel(model="gpt-5.4-mini", openai_client=client)


def agent_run(agent_factory, prompt: str, api: str, max_turns: int = 6):
    def body(url: str) -> None:
        agent = agent_factory(model_for(url, api))
        asyncio.run(Runner.run(agent, prompt, max_turns=max_turns))

    return body


def main() -> None:
    for api in ("responses", "chat"):
        for t, (prompt, subject) in enumerate(TASKS):
            tools = [get_weather, lookup_order, refund_order, send_email]

            def support(model, tools=tools):
                return Agent(
                    name="Support agent",
                    instructions="You are a customer support agent for Acme. Use your tools to resolve the customer's issue, then reply briefly.",
                    tools=tools,
                    model=model,
                )

            run(
                session(f"tools_{api}", "agentic", t),
                ["auto", "auto", {"text": f"Resolved: {subject}."}],
                agent_run(support, prompt, api),
            )

            def triage(model, tools=tools):
                billing = Agent(
                    name="Billing agent",
                    handoff_description="Handles invoices and refunds.",
                    instructions="You handle billing questions. Use the tools.",
                    tools=tools[1:3],
                    model=model,
                )
                weather = Agent(
                    name="Weather agent",
                    handoff_description="Answers weather questions.",
                    instructions="Answer weather questions with the weather tool.",
                    tools=[get_weather],
                    model=model,
                )
                return Agent(
                    name="Triage agent",
                    instructions="Route the user to the right specialist agent.",
                    handoffs=[billing, weather],
                    model=model,
                )

            run(
                session(f"handoff_{api}", "agentic", t),
                ["auto", "auto", {"text": "All sorted."}],
                agent_run(triage, prompt, api),
            )

            def forced(model, tools=tools):
                # An agent that must look the order up on its first step (tool_choice names it) but may use others later.
                return Agent(
                    name="Order agent",
                    instructions="Resolve order problems. Always start by looking the order up.",
                    tools=tools,
                    model=model,
                    model_settings=ModelSettings(tool_choice="lookup_order"),
                )

            run(
                session(f"forced_first_tool_{api}", "agentic", t),
                [{"tool": "lookup_order", "args": {"order_id": "77"}}, {"text": "Refund issued."}],
                agent_run(forced, prompt, api),
            )

            def required(model, tools=tools):
                return Agent(
                    name="Ops agent",
                    instructions="You must act through tools.",
                    tools=tools,
                    model=model,
                    model_settings=ModelSettings(tool_choice="required"),
                    tool_use_behavior="stop_on_first_tool",
                )

            run(session(f"required_tools_{api}", "agentic", t), ["auto"], agent_run(required, prompt, api))

            def extractor(model):
                return Agent(
                    name="Contact extractor",
                    instructions="Extract the contact details from the text.",
                    output_type=Contact,
                    model=model,
                )

            text = f"Hi, I'm Dana Smith from {subject} Corp, reach me at dana{t}@example.com about the renewal."
            run(
                session(f"structured_output_{api}", "single_turn", t),
                [{"text": f'{{"name": "Dana Smith", "email": "dana{t}@example.com", "company": "ACME"}}'}],
                agent_run(extractor, text, api),
            )

            def translator(model):
                return Agent(
                    name="Translator",
                    instructions="You are a translator. Translate the user's text into French. Output only the translation.",
                    model=model,
                )

            run(
                session(f"translator_{api}", "single_turn", t),
                [{"text": "Bonjour."}],
                agent_run(translator, prompt, api),
            )

            def sentiment(model):
                return Agent(
                    name="Sentiment",
                    instructions="Classify the sentiment of the customer's message.",
                    output_type=Sentiment,
                    model=model,
                )

            run(
                session(f"classifier_{api}", "single_turn", t),
                [{"text": '{"label": "negative", "score": 0.9}'}],
                agent_run(sentiment, prompt, api),
            )


if __name__ == "__main__":
    main()
