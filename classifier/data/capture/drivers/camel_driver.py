"""CAMEL: a tool-using ChatAgent, a role-playing society (two agents answering each other), and a plain ChatAgent.

In role-playing, the task-specifier's refined task goes to both agents and each agent's message is the other's
next input, so every call feeds a model of the same task (agentic), though none offers tools. A ChatAgent
answering once, without tools, is single-turn.
"""

from __future__ import annotations

from _common import offline_tokenizers, run, session
from _tasks import TEAM_TASKS
from camel.agents import ChatAgent
from camel.models import ModelFactory
from camel.societies import RolePlaying
from camel.toolkits import FunctionTool
from camel.types import ModelPlatformType

offline_tokenizers()
TASKS = TEAM_TASKS


def get_weather(city: str) -> str:
    r"""Current weather for a city.

    Args:
        city (str): the city's name.

    Returns:
        str: the weather.
    """
    return "-3C, snow"


def model(url: str):  # noqa: ANN201 - CAMEL's backend class
    return ModelFactory.create(
        model_platform=ModelPlatformType.OPENAI_COMPATIBLE_MODEL,
        model_type="gpt-4o-mini",
        url=url,
        api_key="sk-capture",
    )


def tool_agent(url: str, task: str) -> None:
    agent = ChatAgent("You help an operations team.", model=model(url), tools=[FunctionTool(get_weather)])
    agent.step(task)


def role_play(url: str, task: str) -> None:
    m = model(url)
    society = RolePlaying(
        assistant_role_name="Travel writer",
        user_role_name="Office manager",
        task_prompt=task,
        with_task_specify=True,
        assistant_agent_kwargs={"model": m},
        user_agent_kwargs={"model": m},
        task_specify_agent_kwargs={"model": m},
    )
    message = society.init_chat()
    for _ in range(2):
        assistant, _user = society.step(message)
        if assistant.terminated or not assistant.msgs:
            break
        message = assistant.msg


def plain(url: str, task: str) -> None:
    ChatAgent("You are a concise copywriter.", model=model(url)).step(f"Rewrite as one friendly sentence: {task}")


def main() -> None:
    for t, task in enumerate(TASKS):
        run(
            session("tool_agent", "agentic", t),
            [{"tool": "get_weather", "args": {"city": "Oslo"}}, {"text": "Snow."}],
            lambda url, k=task: tool_agent(url, k),
        )
        run(
            session("role_playing", "agentic", t),
            [
                {"text": "Write a two-line note for staff on today's snow, with one packing tip."},
                {"text": "Instruction: Look up what the weather is today.\nInput: None"},
                {"text": "Solution: It is -3C with snow.\nNext request."},
                {"text": "Instruction: Write the two-line note.\nInput: -3C, snow"},
                {"text": "Solution: Snow and -3C today. Pack gloves.\nNext request."},
            ],
            lambda url, k=task: role_play(url, k),
        )
        run(session("plain_agent", "single_turn", t), [{"text": "Snowy day ahead!"}], lambda url, k=task: plain(url, k))


if __name__ == "__main__":
    main()
