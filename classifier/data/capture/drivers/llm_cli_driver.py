"""Simon Willison's `llm` library: a tool chain (tools run, results sent back), a conversation, a one-off prompt.

`model.chain()` runs each tool the model calls and sends the output back until the model answers (agentic).
A conversation with a person, and a prompt answered once, are single-turn.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from _common import run, session
from _tasks import WEATHER_QUESTIONS

os.environ["LLM_USER_PATH"] = tempfile.mkdtemp()
import llm  # noqa: E402

TASKS = WEATHER_QUESTIONS


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return "-3C, snow"


def model(url: str) -> llm.Model:
    """An OpenAI-compatible model registered the way `llm` users do, in extra-openai-models.yaml."""
    config = Path(os.environ["LLM_USER_PATH"]) / "extra-openai-models.yaml"
    config.write_text(
        f"- model_id: capture-mini\n  model_name: gpt-4o-mini\n  api_base: {url}\n  api_key_name: capture\n"
        "  supports_tools: true\n  can_stream: true\n"
    )
    m = llm.get_model("capture-mini")
    m.key = "sk-capture"
    return m


def main() -> None:
    for t, question in enumerate(TASKS):
        run(
            session("tool_chain", "agentic", t),
            [{"tool": "get_weather", "args": {"city": "Oslo"}}, {"text": "-3C and snow: wear gloves."}],
            lambda url, q=question: model(url).chain(q, tools=[get_weather]).text(),
        )

        def conversation(url: str, q: str = question) -> None:
            chat = model(url).conversation()
            chat.prompt(q, system="You are a friendly travel assistant.").text()
            chat.prompt("And what should I wear?").text()

        run(session("conversation", "single_turn", t), [{"text": "Layers."}, {"text": "A coat."}], conversation)
        run(
            session("one_off_prompt", "single_turn", t),
            [{"text": "Snowy."}],
            lambda url, q=question: model(url).prompt(f"Rewrite more politely: {q}").text(),
        )


if __name__ == "__main__":
    main()
