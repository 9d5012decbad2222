"""instructor: structured extraction and classification, single calls in several modes (single-turn)."""

from __future__ import annotations

import json
from typing import Literal

import instructor
from _common import run, session
from openai import OpenAI
from pydantic import BaseModel

TEXTS = [
    "Jason Liu is 30 and works at Example Corp as a staff engineer; email jason@example.com.",
    "Order #4411 from Maria Garcia, 3 units of SKU-88, ship to Valencia by Friday.",
    "Please cancel my subscription, I've been charged twice this month and support never answered.",
    "Meeting notes: Priya will send the Q3 deck by Tuesday; Tom owns the pricing page.",
    "Invoice INV-2291 for 1,250.00 EUR is due on 2026-12-31, payable to Nordwind GmbH.",
    "Great product, fast delivery, but the manual is only in German.",
]


class Person(BaseModel):
    name: str
    age: int | None = None
    company: str | None = None


class Ticket(BaseModel):
    category: Literal["billing", "bug", "account", "other"]
    urgency: Literal["low", "medium", "high"]
    summary: str


def main() -> None:
    modes = [
        ("tools", instructor.Mode.TOOLS),
        ("json", instructor.Mode.JSON),
        ("json_schema", instructor.Mode.JSON_SCHEMA),
        ("md_json", instructor.Mode.MD_JSON),
    ]
    for t, text in enumerate(TEXTS):
        for name, mode in modes:
            for model_name, model, answer in (
                ("extract", Person, {"name": "Jason Liu", "age": 30, "company": "Example Corp"}),
                ("classify", Ticket, {"category": "billing", "urgency": "high", "summary": "double charge"}),
            ):

                def body(url: str, mode=mode, model=model, text=text) -> None:
                    client = instructor.from_openai(OpenAI(base_url=url, api_key="sk-capture"), mode=mode)
                    client.chat.completions.create(
                        model="gpt-5.4-mini",
                        response_model=model,
                        messages=[
                            {"role": "system", "content": "Extract the requested fields."},
                            {"role": "user", "content": text},
                        ],
                        max_retries=1,
                    )

                reply = (
                    {"tool": model.__name__, "args": answer}
                    if mode == instructor.Mode.TOOLS
                    else {"text": json.dumps(answer)}
                )
                run(session(f"{model_name}_{name}", "single_turn", t), [reply], body)


if __name__ == "__main__":
    main()
