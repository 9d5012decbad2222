"""AutoGen AgentChat teams whose steering calls carry no tools: SelectorGroupChat and Magentic-One.

The selector's pick and the Magentic-One orchestrator's facts, plan and progress ledger (JSON naming the next
speaker and its instruction) go straight back to the team's models, so every one of those calls is a step of
the same task's loop (agentic), next to the members' own turns.
"""

from __future__ import annotations

import asyncio
import json

from _common import run, session
from _tasks import TEAM_TASKS
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.teams import MagenticOneGroupChat, SelectorGroupChat
from autogen_ext.models.openai import OpenAIChatCompletionClient

TASKS = TEAM_TASKS


async def get_weather(city: str) -> str:
    """Current weather for a city."""
    return "-3C, snow"


def members(client: OpenAIChatCompletionClient) -> list[AssistantAgent]:
    return [
        AssistantAgent(
            "planner",
            client,
            description="Breaks the task into steps.",
            system_message="You plan the work for the team. Do not do the steps yourself.",
        ),
        AssistantAgent(
            "researcher",
            client,
            tools=[get_weather],
            description="Looks facts up with tools.",
            system_message="You find facts with your tools.",
        ),
        AssistantAgent(
            "writer",
            client,
            description="Writes the final text.",
            system_message="You write the final text. End with TERMINATE.",
        ),
    ]


def client(url: str) -> OpenAIChatCompletionClient:
    return OpenAIChatCompletionClient(model="gpt-4o-mini", base_url=url, api_key="sk-capture", max_retries=0)


def selector(url: str, task: str) -> None:
    async def go() -> None:
        c = client(url)
        stop = TextMentionTermination("TERMINATE") | MaxMessageTermination(8)
        await SelectorGroupChat(members(c), model_client=c, termination_condition=stop).run(task=task)
        await c.close()

    asyncio.run(go())


def magentic(url: str, task: str) -> None:
    async def go() -> None:
        c = client(url)
        team = MagenticOneGroupChat(members(c)[1:], model_client=c, max_turns=6)
        await team.run(task=task)
        await c.close()

    asyncio.run(go())


def ledger(done: bool, speaker: str, instruction: str) -> dict:
    answer = {
        "is_request_satisfied": {"reason": "The note is written." if done else "Nothing written yet.", "answer": done},
        "is_in_loop": {"reason": "No repetition.", "answer": False},
        "is_progress_being_made": {"reason": "Steps are advancing.", "answer": True},
        "next_speaker": {"reason": "Best suited.", "answer": speaker},
        "instruction_or_question": {"reason": "Next step.", "answer": instruction},
    }
    return {"text": json.dumps(answer)}


def main() -> None:
    for t, task in enumerate(TASKS):
        run(
            session("selector_group_chat", "agentic", t),
            [
                {"text": "planner"},
                {"text": "1. researcher: get the weather. 2. writer: write the note."},
                {"text": "researcher"},
                {"tool": "get_weather", "args": {"city": "Oslo"}},
                {"text": "writer"},
                {"text": "Snow and -3C today: pack gloves. TERMINATE"},
            ],
            lambda url, k=task: selector(url, k),
        )
        run(
            session("magentic_one", "agentic", t),
            [
                {
                    "text": "1. GIVEN OR VERIFIED FACTS\n- The city.\n2. FACTS TO LOOK UP\n- Today's weather.\n"
                    "3. FACTS TO DERIVE\n- Advice.\n4. EDUCATED GUESSES\n- Winter."
                },
                {"text": "- researcher: look up the weather\n- writer: write the note"},
                ledger(False, "researcher", "Look up today's weather."),
                {"tool": "get_weather", "args": {"city": "Oslo"}},
                ledger(False, "writer", "Write the two-line note from the weather found."),
                {"text": "Snow and -3C today: pack gloves."},
                ledger(True, "writer", "Nothing more."),
                {"text": "Snow and -3C today: pack gloves."},
            ],
            lambda url, k=task: magentic(url, k),
        )


if __name__ == "__main__":
    main()
