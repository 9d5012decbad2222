"""LlamaIndex: its ReAct agent (text protocol, observations as user turns), its function agent, and RAG answers.

The ReAct agent's system prompt defines `Thought:` / `Action:` / `Action Input:` and the agent sends each tool's
result back as an `Observation:` (agentic); the function-calling agent does the same through tools. A response
synthesiser answering a question from retrieved text is one call whose answer goes to the user (single-turn).
"""

from __future__ import annotations

import asyncio
import json

from _common import run, session
from _tasks import OPS_TASKS
from llama_index.core import get_response_synthesizer
from llama_index.core.agent.workflow import FunctionAgent, ReActAgent
from llama_index.core.schema import NodeWithScore, TextNode
from llama_index.core.tools import FunctionTool
from llama_index.llms.openai import OpenAI

TASKS = OPS_TASKS
DOCS = "Refunds are available within 30 days of purchase. Tickets are answered within one business day."


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return "-3C, snow"


def lookup_ticket(ticket_id: str) -> str:
    """Look a support ticket up by id."""
    if ticket_id == "INC-9":
        return "Error: ticket service unavailable (HTTP 503)"
    return "" if ticket_id == "INC-77" else "open, assigned to Dana"


TOOLS = [FunctionTool.from_defaults(get_weather), FunctionTool.from_defaults(lookup_ticket)]


def llm(url: str) -> OpenAI:
    return OpenAI(model="gpt-4o-mini", api_base=url, api_key="sk-capture", max_retries=0)


def react(url: str, question: str) -> None:
    async def go() -> None:
        agent = ReActAgent(tools=TOOLS, llm=llm(url), system_prompt="You help an operations team.")
        await agent.run(user_msg=question, max_iterations=6)

    asyncio.run(go())


def function_agent(url: str, question: str) -> None:
    async def go() -> None:
        await FunctionAgent(tools=TOOLS, llm=llm(url), system_prompt="You help an operations team.").run(question)

    asyncio.run(go())


def rag(url: str, question: str) -> None:
    synth = get_response_synthesizer(llm=llm(url), response_mode="compact")
    synth.synthesize(question, nodes=[NodeWithScore(node=TextNode(text=DOCS), score=0.9)])


def main() -> None:
    for t, (question, name, args) in enumerate(TASKS):
        action = f"Thought: I need to use a tool to help me answer the question.\nAction: {name}\nAction Input: "
        run(
            session("react_agent", "agentic", t),
            [
                {"text": action + json.dumps(args)},
                {"text": action + json.dumps(args)},
                {"text": "Thought: I can answer without using any more tools.\nAnswer: Done."},
            ],
            lambda url, q=question: react(url, q),
        )
        run(
            session("function_agent", "agentic", t),
            [{"tool": name, "args": args}, {"text": "Done."}],
            lambda url, q=question: function_agent(url, q),
        )
        run(session("rag_answer", "single_turn", t), [{"text": "Within 30 days."}], lambda url, q=question: rag(url, q))


if __name__ == "__main__":
    main()
