"""smolagents: CodeAgent (a text protocol: code the framework executes, observations fed back) and ToolCallingAgent."""

from __future__ import annotations

from _common import run, session
from smolagents import CodeAgent, OpenAIServerModel, ToolCallingAgent, tool

TASKS = [
    ("What is the weather in Paris, in Fahrenheit?", "Paris"),
    ("How many days are there between 2024-03-01 and 2024-07-15?", "days"),
    ("Find the population of Lyon and divide it by the area of the city.", "Lyon"),
    ("Compute the 20th Fibonacci number.", "fib"),
    ("Which of Berlin and Madrid is warmer today?", "Berlin"),
    ("Convert 250 GBP to JPY and round to the nearest hundred.", "GBP"),
]


@tool
def get_weather(city: str) -> str:
    """Current weather for a city.

    Args:
        city: the city's name
    """
    return f"{city}: 18C"


@tool
def web_search(query: str) -> str:
    """Search the web.

    Args:
        query: what to search for
    """
    return "Lyon: population 522,000, area 47.9 km2"


def model(url: str) -> OpenAIServerModel:
    return OpenAIServerModel(model_id="gpt-5.4-mini", api_base=url, api_key="sk-capture")


CODE_STEP = 'Thought: I will use the tool first.\n<code>\nresult = get_weather(city="Paris")\nprint(result)\n</code>'
CODE_FINAL = 'Thought: I have what I need.\n<code>\nfinal_answer("18C")\n</code>'


def main() -> None:
    for t, (prompt, _subject) in enumerate(TASKS):

        def code_agent(url: str, prompt: str = prompt) -> None:
            CodeAgent(tools=[get_weather, web_search], model=model(url), max_steps=4).run(prompt)

        run(session("code_agent", "agentic", t), [{"text": CODE_STEP}, {"text": CODE_FINAL}], code_agent)

        def code_agent_retry(url: str, prompt: str = prompt) -> None:
            CodeAgent(tools=[web_search], model=model(url), max_steps=3, planning_interval=None).run(prompt)

        # a step whose code does not parse: the framework feeds the error back and the model retries
        run(
            session("code_agent_error", "agentic", t),
            [{"text": "I think the answer is 42."}, {"text": CODE_FINAL}],
            code_agent_retry,
        )

        def planning(url: str, prompt: str = prompt) -> None:
            CodeAgent(tools=[get_weather], model=model(url), max_steps=2, planning_interval=1).run(prompt)

        run(
            session("code_agent_planning", "agentic", t),
            [{"text": "1. Look up the weather.\n2. Answer.\n<end_plan>"}, {"text": CODE_FINAL}],
            planning,
        )

        def tool_calling(url: str, prompt: str = prompt) -> None:
            ToolCallingAgent(tools=[get_weather, web_search], model=model(url), max_steps=4).run(prompt)

        run(
            session("tool_calling_agent", "agentic", t),
            [{"tool": "get_weather", "args": {"city": "Paris"}}, {"tool": "final_answer", "args": {"answer": "18C"}}],
            tool_calling,
        )


if __name__ == "__main__":
    main()
