"""A JSON answer goes out as Starlette's `Response` sent it, byte for byte, and what waits runs after it."""

from __future__ import annotations

import pytest
from starlette.background import BackgroundTask
from starlette.responses import Response

from router.json_response import JsonAnswer

HEADERS = {"x-routetax-request-id": "abc", "X-RateLimit-Remaining-Requests": "99", "x-routetax-cost-usd": "0.1"}


async def sent(response: Response) -> list[dict]:
    messages: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        messages.append(message)

    await response({"type": "http"}, receive, send)
    return messages


@pytest.mark.parametrize("status", [200, 400, 204, 502])
async def test_the_answer_is_sent_as_starlette_s_response_with_a_background_task_sent_it(status: int) -> None:
    body = b'{"id":"chatcmpl-1"}'
    ran: list[str] = []

    async def after(*args: str) -> None:
        ran.append("".join(args))

    ours = await sent(JsonAnswer(body, status, HEADERS, after, "a", "b"))
    theirs = await sent(
        Response(body, status, HEADERS, media_type="application/json", background=BackgroundTask(after, "a", "b"))
    )
    assert ours == theirs
    assert ran == ["ab", "ab"]  # once each, after the body


async def test_what_waits_runs_after_the_body_has_been_sent() -> None:
    order: list[str] = []

    async def after() -> None:
        order.append("after")

    async def send(message: dict) -> None:
        order.append(message["type"])

    async def receive() -> dict:
        return {"type": "http.disconnect"}

    await JsonAnswer(b"{}", 200, {}, after)({"type": "http"}, receive, send)
    assert order == ["http.response.start", "http.response.body", "after"]
