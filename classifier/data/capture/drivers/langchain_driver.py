"""LangChain / LangGraph: ReAct graph agents, tool-forcing nodes, structured output, RAG, judges, summarisers."""

from __future__ import annotations

from _common import run, session
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from pydantic import BaseModel, Field

TASKS = [
    "What's the weather in Oslo and do I need gloves?",
    "Find the latest status of ticket INC-2231 and post it to #ops.",
    "Is it snowing in Denver right now?",
    "Search our docs for the refund policy and summarise it.",
    "Check ticket INC-9 and tell the on-call engineer.",
    "How cold is Helsinki and what should I wear?",
]
DOCS = (
    "Refunds are available within 30 days of purchase. Items must be unused. "
    "Digital goods are non-refundable once downloaded. Contact support@example.com."
)


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return "-3C, snow"


@tool
def search_docs(query: str) -> str:
    """Search the internal documentation."""
    return DOCS


@tool
def post_message(channel: str, text: str) -> str:
    """Post a message to a chat channel."""
    return "posted"


class Extraction(BaseModel):
    """Facts extracted from a text."""

    topic: str = Field(description="the topic")
    entities: list[str] = Field(description="named entities")


class Grade(BaseModel):
    """A relevance grade."""

    relevant: bool
    explanation: str


def llm(url: str, api: str) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-5.4-mini", base_url=url, api_key="sk-capture", use_responses_api=api == "responses", max_retries=0
    )


def react_agent(url: str, prompt: str, api: str) -> None:
    try:
        from langchain.agents import create_agent  # langchain >= 1.0

        agent = create_agent(
            llm(url, api), [get_weather, search_docs, post_message], system_prompt="You are an ops assistant."
        )
    except ImportError:
        from langgraph.prebuilt import create_react_agent

        agent = create_react_agent(
            llm(url, api), [get_weather, search_docs, post_message], prompt="You are an ops assistant."
        )
    agent.invoke({"messages": [HumanMessage(prompt)]})


def forcing_node(url: str, prompt: str, api: str) -> None:
    """A hand-built LangGraph: the first node forces a search, then the model may use any tool."""
    tools = [get_weather, search_docs, post_message]
    model = llm(url, api)

    def first(state: MessagesState) -> dict:
        return {"messages": [model.bind_tools(tools, tool_choice="search_docs").invoke(state["messages"])]}

    def agent(state: MessagesState) -> dict:
        return {"messages": [model.bind_tools(tools).invoke(state["messages"])]}

    def route(state: MessagesState) -> str:
        return "tools2" if getattr(state["messages"][-1], "tool_calls", None) else END

    graph = StateGraph(MessagesState)
    graph.add_node("first", first)
    graph.add_node("tools", ToolNode(tools))
    graph.add_node("agent", agent)
    graph.add_node("tools2", ToolNode(tools))
    graph.add_edge(START, "first")
    graph.add_edge("first", "tools")
    graph.add_edge("tools", "agent")
    graph.add_conditional_edges("agent", route)
    graph.add_edge("tools2", "agent")
    graph.compile().invoke(
        {"messages": [SystemMessage("You answer from the docs and act on them."), HumanMessage(prompt)]},
        {"recursion_limit": 8},
    )


def main() -> None:
    for api in ("chat", "responses"):
        for t, prompt in enumerate(TASKS):
            run(
                session(f"react_agent_{api}", "agentic", t),
                ["auto", {"tool": "post_message", "args": {"channel": "#ops", "text": "ok"}}, {"text": "Done."}],
                lambda url, p=prompt, a=api: react_agent(url, p, a),
            )
            run(
                session(f"forcing_node_{api}", "agentic", t),
                ["auto", "auto", {"text": "Done."}],
                lambda url, p=prompt, a=api: forcing_node(url, p, a),
            )
            text = f"{prompt} {DOCS}"
            run(
                session(f"structured_output_{api}", "single_turn", t),
                [{"text": '{"topic": "refunds", "entities": ["support"]}'}],
                lambda url, x=text, a=api: (
                    llm(url, a).with_structured_output(Extraction).invoke(f"Extract the facts from: {x}")
                ),
            )
            run(
                session(f"bind_tools_any_{api}", "single_turn", t),
                [{"tool": "Extraction", "args": {"topic": "refunds", "entities": []}}],
                lambda url, x=text, a=api: (
                    llm(url, a).bind_tools([Extraction], tool_choice="any").invoke(f"Extract the facts from: {x}")
                ),
            )
            rag = ChatPromptTemplate.from_messages(
                [
                    (
                        "system",
                        "Answer the question using only the context below. If you don't know, say so.\n\nContext:\n{context}",
                    ),
                    ("human", "{question}"),
                ]
            )
            run(
                session(f"rag_answer_{api}", "single_turn", t),
                [{"text": "30 days."}],
                lambda url, p=prompt, a=api, rag=rag: (rag | llm(url, a)).invoke({"context": DOCS, "question": p}),
            )
            grader = ChatPromptTemplate.from_messages(
                [
                    (
                        "system",
                        "You are a grader assessing relevance of a retrieved document to a user question. Give a binary score.",
                    ),
                    ("human", "Document: {doc}\n\nQuestion: {q}"),
                ]
            )
            run(
                session(f"grader_{api}", "single_turn", t),
                [{"text": '{"relevant": true, "explanation": "mentions refunds"}'}],
                lambda url, p=prompt, a=api, grader=grader: (grader | llm(url, a).with_structured_output(Grade)).invoke(
                    {"doc": DOCS, "q": p}
                ),
            )
            summary = ChatPromptTemplate.from_messages(
                [("system", "Write a concise summary of the following conversation."), ("human", "{log}")]
            )
            log = "\n".join(
                f"{who}: {line}" for who, line in (("user", prompt), ("assistant", "Let me check."), ("user", "thanks"))
            )
            run(
                session(f"summarise_{api}", "single_turn", t),
                [{"text": "The user asked about weather."}],
                lambda url, x=log, a=api, summary=summary: (summary | llm(url, a)).invoke({"log": x}),
            )
            run(
                session(f"chat_{api}", "single_turn", t),
                [{"text": "Sure."}],
                lambda url, p=prompt, a=api: llm(url, a).invoke(
                    [SystemMessage("You are a friendly assistant."), HumanMessage(p)]
                ),
            )


if __name__ == "__main__":
    main()
