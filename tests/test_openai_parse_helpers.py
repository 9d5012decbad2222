"""The openai SDK's parse helpers work through routetax against the emulator, on both APIs (issue 19).

`chat.completions.parse` / `.stream` with a pydantic `response_format`, `responses.parse` / `.stream`
with `text_format`, and strict function tools made with `openai.pydantic_function_tool` /
`pydantic_responses_function_tool`, whose arguments the SDK parses into the tool's model. The SDK
sends strict schemas (`$defs` for nested models and enums, nullable as `anyOf`) and raises when the
answer does not validate, so each of these failed while the emulator ignored the schema.
"""

from __future__ import annotations

from enum import StrEnum

import openai
from openai import OpenAI
from pydantic import BaseModel

ASK = [{"role": "user", "content": "Book a table for four at Casa Lisboa tomorrow at eight."}]


class Seating(StrEnum):
    inside = "inside"
    terrace = "terrace"


class Guest(BaseModel):
    name: str
    age: int


class Reservation(BaseModel):
    """A nested model, an enum, an integer, a list of objects, a nullable field."""

    restaurant: str
    party_size: int
    seating: Seating
    guests: list[Guest]
    deposit: float | None


class BookTable(BaseModel):
    """Book a table."""

    restaurant: str
    party_size: int
    seating: Seating
    dishes: list[str]


def assert_reservation(value: object) -> None:
    assert isinstance(value, Reservation)
    assert isinstance(value.party_size, int) and isinstance(value.seating, Seating)
    assert value.guests and all(isinstance(guest, Guest) and isinstance(guest.age, int) for guest in value.guests)


def test_chat_parse_and_stream_give_the_pydantic_model(client: OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.parse(model="auto", messages=ASK, response_format=Reservation)
    assert raw.headers["x-routetax-class"] == "single_turn" and raw.headers["x-routetax-tier"]
    message = raw.parse().choices[0].message
    assert_reservation(message.parsed)
    assert message.refusal is None
    with client.chat.completions.stream(model="auto", messages=ASK, response_format=Reservation) as stream:
        final = stream.get_final_completion()
    assert_reservation(final.choices[0].message.parsed)


def test_responses_parse_and_stream_give_the_pydantic_model(client: OpenAI) -> None:
    raw = client.responses.with_raw_response.parse(model="auto", input=ASK, text_format=Reservation)
    assert raw.headers["x-routetax-class"] == "single_turn" and raw.headers["x-routetax-tier"]
    assert_reservation(raw.parse().output_parsed)
    with client.responses.stream(model="auto", input=ASK, text_format=Reservation) as stream:
        final = stream.get_final_response()
    assert_reservation(final.output_parsed)


def test_chat_strict_pydantic_tool_then_structured_answer(client: OpenAI) -> None:
    tools = [openai.pydantic_function_tool(BookTable)]
    first = client.chat.completions.parse(model="auto", messages=ASK, tools=tools, response_format=Reservation)
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    [call] = message.tool_calls
    assert call.function.name == "BookTable"
    arguments = call.function.parsed_arguments
    assert isinstance(arguments, BookTable) and isinstance(arguments.party_size, int) and arguments.dishes
    follow_up = [
        *ASK,
        message.model_dump(exclude_none=True, include={"role", "content", "tool_calls"}),
        {"role": "tool", "tool_call_id": call.id, "content": "booked"},
    ]
    second = client.chat.completions.parse(model="auto", messages=follow_up, tools=tools, response_format=Reservation)
    assert_reservation(second.choices[0].message.parsed)


def test_responses_strict_pydantic_tool_then_structured_answer(client: OpenAI) -> None:
    tools = [openai.pydantic_responses_function_tool(BookTable)]
    first = client.responses.parse(model="auto", input=ASK, tools=tools, text_format=Reservation)
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.name == "BookTable"
    assert isinstance(call.parsed_arguments, BookTable) and isinstance(call.parsed_arguments.seating, Seating)
    second = client.responses.parse(
        model="auto",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "booked"}],
        tools=tools,
        text_format=Reservation,
    )
    assert_reservation(second.output_parsed)
