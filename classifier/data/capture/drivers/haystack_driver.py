"""Haystack: its tool-calling Agent component, and single chat-generator calls (a RAG answer, a summary).

The Agent runs the tools the model calls and sends the results back (agentic). A prompt built from retrieved
documents and answered once, or a summary, goes to the user (single-turn).
"""

from __future__ import annotations

from _common import run, session
from _tasks import OPS_QUESTIONS
from haystack.components.agents import Agent
from haystack.components.builders import ChatPromptBuilder
from haystack.components.generators.chat import OpenAIChatGenerator
from haystack.dataclasses import ChatMessage
from haystack.tools import Tool
from haystack.utils import Secret

TASKS = OPS_QUESTIONS
DOCS = ["Refunds are available within 30 days of purchase.", "Tickets are answered within one business day."]
WEATHER = Tool(
    name="get_weather",
    description="Current weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    function=lambda city: "-3C, snow",
)
TICKET = Tool(
    name="lookup_ticket",
    description="Look a support ticket up by id.",
    parameters={"type": "object", "properties": {"ticket_id": {"type": "string"}}, "required": ["ticket_id"]},
    function=lambda ticket_id: "Error: ticket service unavailable" if ticket_id == "INC-9" else "open",
)


def generator(url: str) -> OpenAIChatGenerator:
    return OpenAIChatGenerator(model="gpt-4o-mini", api_base_url=url, api_key=Secret.from_token("sk-capture"))


def agent(url: str, question: str) -> None:
    a = Agent(chat_generator=generator(url), tools=[WEATHER, TICKET], system_prompt="You help an operations team.")
    a.warm_up()
    a.run(messages=[ChatMessage.from_user(question)])


def rag(url: str, question: str) -> None:
    template = [
        ChatMessage.from_system("Answer from the documents only."),
        ChatMessage.from_user("Documents:\n{% for d in documents %}- {{ d }}\n{% endfor %}\nQuestion: {{ question }}"),
    ]
    prompt = ChatPromptBuilder(template=template, required_variables="*").run(documents=DOCS, question=question)
    generator(url).run(messages=prompt["prompt"])


def summary(url: str, question: str) -> None:
    generator(url).run(
        messages=[
            ChatMessage.from_system("Summarise the support conversation in one line."),
            ChatMessage.from_user(f"Customer: {question}\nAgent: Let me check.\nCustomer: Thanks."),
        ]
    )


def main() -> None:
    for t, question in enumerate(TASKS):
        run(session("tool_agent", "agentic", t), ["auto", {"text": "Done."}], lambda url, q=question: agent(url, q))
        run(session("rag_answer", "single_turn", t), [{"text": "30 days."}], lambda url, q=question: rag(url, q))
        run(
            session("summary", "single_turn", t),
            [{"text": "A customer asked."}],
            lambda url, q=question: summary(url, q),
        )


if __name__ == "__main__":
    main()
