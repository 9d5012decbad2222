"""LangChain's classic agents (AgentExecutor): XML, structured-chat, zero-shot and chat ReAct text protocols; a router.

These agents speak their protocol in text — `<tool>`/`<tool_input>` tags answered by `<observation>`, a JSON
`action` blob in a fenced block, `Action:`/`Action Input:` lines answered by `Observation:` — and the executor
runs each action and sends the result back (agentic), including tool errors and empty results. A router chain
picks a destination prompt once and the destination answers; neither result returns to a model of the loop
(single-turn).
"""

from __future__ import annotations

import json

from _common import run, session
from _tasks import OPS_TASKS
from langchain_classic.agents import AgentExecutor, AgentType, XMLAgent, create_xml_agent, initialize_agent
from langchain_classic.chains.router import MultiPromptChain
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

TASKS = OPS_TASKS


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return "-3C, snow"


@tool
def lookup_ticket(ticket_id: str) -> str:
    """Look a support ticket up by id."""
    if ticket_id == "INC-9":
        return "API output: Error 503 ticket service unavailable"
    return "[]" if ticket_id == "INC-77" else "open, assigned to Dana"


TOOLS = [get_weather, lookup_ticket]


def llm(url: str) -> ChatOpenAI:
    return ChatOpenAI(model="gpt-4o-mini", base_url=url, api_key="sk-capture", max_retries=0)


def xml_agent(url: str, question: str) -> None:
    """`create_xml_agent` with the XML agent's own default instructions (the scratchpad as the assistant turn)."""
    template = XMLAgent.get_default_prompt().messages[0].prompt.template.replace("{question}", "{input}")
    prompt = ChatPromptTemplate.from_messages([("human", template), ("ai", "{agent_scratchpad}")])
    agent = create_xml_agent(llm(url), TOOLS, prompt)
    AgentExecutor(agent=agent, tools=TOOLS, max_iterations=4).invoke({"input": question})


def classic(url: str, question: str, kind: AgentType) -> None:
    initialize_agent(TOOLS, llm(url), agent=kind, max_iterations=4, handle_parsing_errors=True).invoke(
        {"input": question, "chat_history": []}
    )


def router(url: str, question: str) -> None:
    infos = [
        {"name": "weather", "description": "questions about the weather", "prompt_template": "Answer: {input}"},
        {"name": "support", "description": "questions about support tickets", "prompt_template": "Reply: {input}"},
    ]
    MultiPromptChain.from_prompts(llm(url), infos).invoke({"input": question})


def main() -> None:
    for t, (question, name, args) in enumerate(TASKS):
        arg = next(iter(args.values()))
        run(
            session("xml_agent", "agentic", t),
            [
                {"text": f"<tool>{name}</tool><tool_input>{arg}</tool_input>"},
                {"text": f"<tool>{name}</tool><tool_input>{arg}</tool_input>"},
                {"text": "<final_answer>Done.</final_answer>"},
            ],
            lambda url, q=question: xml_agent(url, q),
        )
        blob = json.dumps({"action": name, "action_input": args})
        final = json.dumps({"action": "Final Answer", "action_input": "Done."})
        run(
            session("structured_chat_agent", "agentic", t),
            [
                {"text": f"Thought: I should look this up.\nAction:\n```\n{blob}\n```"},
                {"text": f"Thought: I know the answer.\nAction:\n```\n{final}\n```"},
            ],
            lambda url, q=question: classic(url, q, AgentType.STRUCTURED_CHAT_ZERO_SHOT_REACT_DESCRIPTION),
        )
        run(
            session("zero_shot_react", "agentic", t),
            [
                {"text": f"I should look this up.\nAction: {name}\nAction Input: {arg}"},
                {"text": "I now know the final answer.\nFinal Answer: Done."},
            ],
            lambda url, q=question: classic(url, q, AgentType.ZERO_SHOT_REACT_DESCRIPTION),
        )
        chat_blob = json.dumps({"action": name, "action_input": arg})
        run(
            session("chat_conversational_react", "agentic", t),
            [
                {"text": f"```json\n{chat_blob}\n```"},
                {"text": '```json\n{"action": "Final Answer", "action_input": "Done."}\n```'},
            ],
            lambda url, q=question: classic(url, q, AgentType.CHAT_CONVERSATIONAL_REACT_DESCRIPTION),
        )
        destination = "weather" if name == "get_weather" else "support"
        run(
            session("router_chain", "single_turn", t),
            [
                {"text": f'```json\n{{"destination": "{destination}", "next_inputs": "{question}"}}\n```'},
                {"text": "Done."},
            ],
            lambda url, q=question: router(url, q),
        )


if __name__ == "__main__":
    main()
