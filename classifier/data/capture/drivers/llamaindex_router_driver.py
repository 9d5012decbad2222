"""LlamaIndex's router query engine: a selector that picks one query engine, once (single-turn).

The selector's numbered choice sends the question to one engine (here engines that answer from fixed text,
without a model); its pick returns to no model of a loop, unlike a group chat's speaker selection.
"""

from __future__ import annotations

from _common import run, session
from llama_index.core.query_engine import CustomQueryEngine, RouterQueryEngine
from llama_index.core.selectors import LLMSingleSelector
from llama_index.core.tools import QueryEngineTool
from llama_index.llms.openai import OpenAI

QUESTIONS = [
    "What is the refund window?",
    "How fast are tickets answered?",
    "Can I return a downloaded e-book?",
    "Who do I contact about a late reply?",
    "Are used items refundable?",
    "What are support's hours?",
]


class Fixed(CustomQueryEngine):
    """An engine that answers from one fixed passage."""

    text: str

    def custom_query(self, query_str: str) -> str:
        return self.text


def route(url: str, question: str) -> None:
    llm = OpenAI(model="gpt-4o-mini", api_base=url, api_key="sk-capture", max_retries=0)
    tools = [
        QueryEngineTool.from_defaults(Fixed(text="Refunds within 30 days."), description="Refund and return policy"),
        QueryEngineTool.from_defaults(Fixed(text="Answered within a day."), description="Support tickets and hours"),
    ]
    RouterQueryEngine(selector=LLMSingleSelector.from_defaults(llm=llm), query_engine_tools=tools, llm=llm).query(
        question
    )


def main() -> None:
    for t, question in enumerate(QUESTIONS):
        run(
            session("router_query_engine", "single_turn", t),
            [{"text": '[{"choice": 1, "reason": "It is about refunds."}]'}],
            lambda url, q=question: route(url, q),
        )


if __name__ == "__main__":
    main()
