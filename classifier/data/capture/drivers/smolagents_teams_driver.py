"""smolagents ToolCallingAgent beyond one loop: its planning steps, a managed sub-agent, a tool that fails.

A planning call (no tools offered, "facts survey" and plan) and a managed agent's whole run both feed the
manager's loop; a tool error goes back to the model as the next observation (all agentic).
"""

from __future__ import annotations

from _common import run, session
from smolagents import OpenAIServerModel, ToolCallingAgent, tool

TASKS = [
    "What is the weather in Paris, and should I bring a coat?",
    "Which of Berlin and Madrid is warmer today?",
    "Is it a good day for a picnic in Lyon?",
    "Compare the weather in Oslo and Rome.",
    "Should I cycle to work in Amsterdam today?",
    "Is it snowing in Denver?",
]


@tool
def get_weather(city: str) -> str:
    """Current weather for a city.

    Args:
        city: the city's name
    """
    if city == "Denver":
        raise RuntimeError("weather service timed out")
    return f"{city}: 8C, rain"


def model(url: str) -> OpenAIServerModel:
    return OpenAIServerModel(model_id="gpt-5.4-mini", api_base=url, api_key="sk-capture")


def planning(url: str, prompt: str) -> None:
    ToolCallingAgent(tools=[get_weather], model=model(url), max_steps=3, planning_interval=2).run(prompt)


def managed(url: str, prompt: str) -> None:
    weather = ToolCallingAgent(
        tools=[get_weather],
        model=model(url),
        max_steps=3,
        name="weather_agent",
        description="Finds the current weather for cities.",
    )
    ToolCallingAgent(tools=[], model=model(url), managed_agents=[weather], max_steps=4).run(prompt)


def main() -> None:
    for t, prompt in enumerate(TASKS):
        city = prompt.split(" in ")[-1].rstrip("?.") if " in " in prompt else "Berlin"
        run(
            session("tool_calling_planning", "agentic", t),
            [
                {
                    "text": "## 1. Facts survey\n### 1.1. Facts given in the task\nThe city.\n"
                    "### 1.2. Facts to look up\nThe weather.\n### 1.3. Facts to derive\nAdvice.\n\n"
                    "## 2. Plan\n1. Get the weather.\n2. Answer.\n<end_plan>"
                },
                {"tool": "get_weather", "args": {"city": city}},
                {"tool": "get_weather", "args": {"city": "Denver"}},
                {"text": "## 1. Updated facts survey\nWeather known.\n\n## 2. Plan\n1. Answer.\n<end_plan>"},
                {"tool": "final_answer", "args": {"answer": "Bring a coat."}},
            ],
            lambda url, p=prompt: planning(url, p),
        )
        run(
            session("managed_agent", "agentic", t),
            [
                {"tool": "weather_agent", "args": {"task": f"Weather in {city}", "additional_args": {}}},
                {"tool": "get_weather", "args": {"city": city}},
                {"tool": "final_answer", "args": {"answer": "8C, rain"}},
                {"tool": "final_answer", "args": {"answer": "Bring a coat: 8C and rain."}},
            ],
            lambda url, p=prompt: managed(url, p),
        )


if __name__ == "__main__":
    main()
