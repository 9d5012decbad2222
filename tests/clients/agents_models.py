"""The output types the agents SDK driver asks for, shared by the driver (in the client's venv) and the test.

Only pydantic: this module is imported both by `agents_driver.py`, which runs in the agents SDK's own
venv, and by `tests/test_agents_sdk.py`, which runs in the project's.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class Priority(StrEnum):
    low = "low"
    high = "high"


class Address(BaseModel):
    city: str
    postcode: str


class Ticket(BaseModel):
    """Every kind of field a strict JSON schema carries: integer, number, array, nested object, enum, nullable."""

    title: str
    count: int
    score: float
    tags: list[str]
    address: Address
    priority: Priority
    assignee: str | None


class Booking(BaseModel):
    """The final output of the tool agent: the booking it made."""

    restaurant: str
    guests: int
    confirmed: bool
