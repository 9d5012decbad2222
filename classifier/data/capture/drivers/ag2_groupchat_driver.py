"""AG2 group chat with automatic speaker selection: the selector's pick goes back into the team's loop.

Every selection call (a role-play prompt naming the roles, answered with one name) steers which model speaks
next in the same task, and each member's turn reads the others' output (agentic).
"""

from __future__ import annotations

from _common import run, session
from _tasks import TEAM_TASKS
from autogen import ConversableAgent, GroupChat, GroupChatManager

TASKS = TEAM_TASKS


def llm_config(url: str) -> dict:
    return {"config_list": [{"model": "gpt-4o", "base_url": url, "api_key": "sk-capture"}], "cache_seed": None}


def group(url: str, task: str) -> None:
    config = llm_config(url)
    planner = ConversableAgent(
        "planner",
        llm_config=config,
        description="Plans the steps.",
        system_message="You break the task into steps for the others.",
    )
    critic = ConversableAgent(
        "critic",
        llm_config=config,
        description="Checks the draft.",
        system_message="You check the writer's draft and point out problems.",
    )
    writer = ConversableAgent(
        "writer",
        llm_config=config,
        description="Writes the text.",
        system_message="You write the text the plan asks for.",
    )
    user = ConversableAgent("user", llm_config=False, human_input_mode="NEVER", description="The person asking.")
    chat = GroupChat(
        [user, planner, writer, critic],
        messages=[],
        max_round=5,
        speaker_selection_method="auto",
        allow_repeat_speaker=False,
    )
    user.initiate_chat(GroupChatManager(chat, llm_config=config), message=task)


def main() -> None:
    for t, task in enumerate(TASKS):
        run(
            session("selector_group_chat", "agentic", t),
            [
                {"text": "planner"},
                {"text": "1. writer drafts the note. 2. critic checks it."},
                {"text": "writer"},
                {"text": "Snow and -3C today: pack gloves."},
                {"text": "critic"},
                {"text": "Add the temperature to the first line."},
                {"text": "writer"},
                {"text": "-3C and snow today: pack gloves."},
            ],
            lambda url, k=task: group(url, k),
        )


if __name__ == "__main__":
    main()
