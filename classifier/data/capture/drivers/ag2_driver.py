"""AG2 (AutoGen 0.2 line): an assistant whose code a user proxy executes, tool registration, and plain single-turn replies."""

from __future__ import annotations

import tempfile

from _common import run, session
from autogen import AssistantAgent, ConversableAgent, UserProxyAgent, register_function

TASKS = [
    "Compute the sum of the squares of the numbers from 1 to 50.",
    "What day of the week was 2024-02-29?",
    "Plot nothing, just print the first 10 primes.",
    "How many vowels are in the word 'encyclopedia'?",
    "Print the current Python version.",
    "Reverse the string 'routetax' and print it.",
]


def llm_config(url: str) -> dict:
    return {"config_list": [{"model": "gpt-4o", "base_url": url, "api_key": "sk-capture"}], "cache_seed": None}


def is_done(message: dict) -> bool:
    return "TERMINATE" in (message.get("content") or "")


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return "sunny"


def main() -> None:
    for t, task in enumerate(TASKS):

        def code_loop(url: str, task: str = task) -> None:
            assistant = AssistantAgent("assistant", llm_config=llm_config(url))
            user = UserProxyAgent(
                "user_proxy",
                human_input_mode="NEVER",
                max_consecutive_auto_reply=3,
                is_termination_msg=is_done,
                code_execution_config={"work_dir": tempfile.mkdtemp(), "use_docker": False},
            )
            user.initiate_chat(assistant, message=task)

        run(
            session("code_execution", "agentic", t),
            [
                {"text": "Let me compute it.\n```python\nprint(sum(i*i for i in range(1, 51)))\n```"},
                {"text": "The result is 42925.\nTERMINATE"},
            ],
            code_loop,
        )

        def tools(url: str, task: str = task) -> None:
            assistant = AssistantAgent(
                "assistant",
                llm_config=llm_config(url),
                system_message="You help with the weather. Reply TERMINATE when done.",
            )
            user = UserProxyAgent(
                "user_proxy",
                human_input_mode="NEVER",
                max_consecutive_auto_reply=3,
                is_termination_msg=is_done,
                code_execution_config=False,
            )
            register_function(get_weather, caller=assistant, executor=user, description="Current weather for a city.")
            user.initiate_chat(assistant, message=f"What's the weather in Rome? Then: {task}")

        run(session("tool_use", "agentic", t), ["auto", {"text": "Sunny in Rome. TERMINATE"}], tools)

        def single(url: str, task: str = task) -> None:
            agent = ConversableAgent(
                "translator",
                llm_config=llm_config(url),
                system_message="Translate the user's message into German. Reply with the translation only.",
            )
            agent.generate_reply(messages=[{"role": "user", "content": task}])

        run(session("translator", "single_turn", t), [{"text": "Hallo."}], single)


if __name__ == "__main__":
    main()
