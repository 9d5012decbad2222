"""instructor's parallel tools: one extraction call forced among several tool schemas (single-turn).

The model fills one or more of the offered schemas and instructor validates them into objects; nothing runs
and nothing returns to a model, so several tools offered does not make it an agent's step.
"""

from __future__ import annotations

from collections.abc import Iterable

import instructor
from _common import run, session
from openai import OpenAI
from pydantic import BaseModel

TEXTS = [
    "Book a table for two at Nopa tomorrow at 7pm and remind me to bring the voucher.",
    "What's the weather in Oslo? Also add 'buy gloves' to my list.",
    "Schedule a call with Priya on Tuesday at 10 and note that the deck is due Monday.",
    "Remind me to renew my passport, and check the weather in Lisbon for Friday.",
    "Set up lunch with Tom on Friday at noon.",
    "Note: the invoice INV-2291 is due on the 31st.",
]


class Reservation(BaseModel):
    """A booking to make."""

    place: str
    people: int
    time: str


class Reminder(BaseModel):
    """Something to remind the user of."""

    text: str


class WeatherQuery(BaseModel):
    """A city whose weather the user asked about."""

    city: str


def extract(url: str, text: str) -> None:
    client = instructor.from_openai(OpenAI(base_url=url, api_key="sk-capture"), mode=instructor.Mode.PARALLEL_TOOLS)
    list(
        client.chat.completions.create(
            model="gpt-5.4-mini",
            response_model=Iterable[Reservation | Reminder | WeatherQuery],
            messages=[
                {"role": "system", "content": "Extract every request in the user's message."},
                {"role": "user", "content": text},
            ],
        )
    )


def main() -> None:
    for t, text in enumerate(TEXTS):
        run(
            session("parallel_tools_extraction", "single_turn", t),
            [{"tool": "Reminder", "args": {"text": "bring the voucher"}}],
            lambda url, x=text: extract(url, x),
        )


if __name__ == "__main__":
    main()
