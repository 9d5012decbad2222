"""A deliberately misbehaving OpenAI-compatible upstream, for the tests of what routetax must contain.

Each request to `/v1/chat/completions` or `/v1/responses` takes the next scripted behaviour
(`POST /_script {"outcomes": [...]}`); with none queued it answers a normal small completion.
Normal answers carry the headers OpenAI sends (`x-request-id`, `x-ratelimit-*`). `GET /_stats`
says how many requests arrived and how many streams were closed by the client.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

LEAKED_KEY = "sk-hostile-UPSTREAM-KEY-0123456789abcdef"
RATE_HEADERS = {
    "x-request-id": "req_hostile_123",
    "x-ratelimit-limit-requests": "500",
    "x-ratelimit-remaining-requests": "499",
    "openai-processing-ms": "7",
}


def completion(model: str, usage: Any = None, text: str = "Hello there.") -> dict[str, Any]:
    return {
        "id": "chatcmpl-hostile",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": usage if usage is not None else {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def _error(status: int, message: str, code: str | None, type_: str = "invalid_request_error") -> Response:
    return _json({"error": {"message": message, "type": type_, "param": None, "code": code}}, status)


def build_hostile() -> Starlette:
    queue: deque[str] = deque()
    stats = {"requests": 0, "streams_closed": 0, "streams_open": 0}

    async def answer(request: Request) -> Response:
        stats["requests"] += 1
        body = orjson.loads(await request.body())
        model = body.get("model", "?")
        outcome = queue.popleft() if queue else "ok"
        if outcome == "leaky_401":
            return _error(
                401, f"Incorrect API key provided: sk-secre****-XYZ. Sent: Bearer {LEAKED_KEY}", "invalid_api_key"
            )
        if outcome == "leaky_400":
            return _error(400, f"Bad header 'Authorization: Bearer {LEAKED_KEY}'", None)
        if outcome == "echo_headers":  # the key in every relayed header
            echoed = {name: f"{value}-{LEAKED_KEY}" for name, value in RATE_HEADERS.items()}
            return _json(completion(model), headers=echoed)
        if outcome == "echo_body":  # a 2xx answer with the key written plainly and escaped
            body = orjson.dumps(completion(model, text=f"{LEAKED_KEY} / {ESCAPE_MARK}"))
            return Response(_with_escaped_key(body), media_type="application/json", headers=RATE_HEADERS)
        if outcome == "echo_escaped_error":  # a relayed error (403) that writes the key only as JSON escapes
            body = orjson.dumps({"error": {"message": f"Key {ESCAPE_MARK} may not use this model", "type": "x"}})
            return Response(_with_escaped_key(body), status_code=403, media_type="application/json")
        if outcome == "echo_stream":  # a 200 stream: a text delta, then an error event, both carrying the key
            return StreamingResponse(_echo_stream(model), media_type="text/event-stream")
        if outcome == "html_200":
            return Response(b"<html><body>502 Bad Gateway (nginx)</body></html>", media_type="application/json")
        if outcome == "rate_limited":
            response = _error(429, "Rate limit reached for requests", "rate_limit_exceeded", "requests")
            response.headers.update({**RATE_HEADERS, "retry-after": "30", "retry-after-ms": "30000"})
            return response
        if outcome == "context_length":
            return _error(400, "This model's maximum context length is 272000 tokens.", "context_length_exceeded")
        if outcome.startswith("usage:"):  # usage:<json of the usage object>
            return _json(completion(model, orjson.loads(outcome[6:])), headers=RATE_HEADERS)
        if outcome == "silent_stream":
            return StreamingResponse(_silent(stats), media_type="text/event-stream")
        if outcome.startswith("giant_event:"):  # an SSE event that never ends, of N bytes
            return StreamingResponse(_giant(int(outcome[12:])), media_type="text/event-stream")
        if outcome.startswith("many_events:"):  # N content events, no usage chunk
            return StreamingResponse(_many(model, int(outcome[12:])), media_type="text/event-stream")
        if outcome == "responses_break":  # a Responses stream cut after two events
            return StreamingResponse(_responses_break(), media_type="text/event-stream")
        return _json(completion(model), headers=RATE_HEADERS)

    async def set_script(request: Request) -> Response:
        queue.extend((await request.json())["outcomes"])
        return _json({"queued": list(queue)})

    async def get_stats(_request: Request) -> Response:
        return _json(stats)

    return Starlette(
        routes=[
            Route("/v1/chat/completions", answer, methods=["POST"]),
            Route("/v1/responses", answer, methods=["POST"]),
            Route("/_script", set_script, methods=["POST"]),
            Route("/_stats", get_stats, methods=["GET"]),
        ]
    )


ESCAPE_MARK = "@@escaped-key@@"  # replaced, in the serialised body, by the key written as JSON \\uXXXX escapes


def _with_escaped_key(body: bytes) -> bytes:
    escaped = "".join(f"\\u{ord(char):04x}" for char in LEAKED_KEY).encode()
    return body.replace(ESCAPE_MARK.encode(), escaped)


async def _echo_stream(model: str) -> AsyncIterator[bytes]:
    delta = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": model,
        "choices": [{"index": 0, "delta": {"content": f"key {LEAKED_KEY} and {ESCAPE_MARK}"}}],
    }
    error = {"error": {"message": f"Upstream overloaded (key {LEAKED_KEY}, {ESCAPE_MARK})", "type": "server_error"}}
    yield _with_escaped_key(b"data: " + orjson.dumps(delta) + b"\n\n")
    yield _with_escaped_key(b"data: " + orjson.dumps(error) + b"\n\n")
    yield b"data: [DONE]\n\n"


async def _silent(stats: dict[str, int]) -> AsyncIterator[bytes]:
    """Headers sent, then nothing visible: a comment now and then, for as long as anyone listens."""
    stats["streams_open"] += 1
    try:
        for _ in range(600):
            yield b": keep-alive\n\n"
            await asyncio.sleep(0.5)
    finally:
        stats["streams_open"] -= 1
        stats["streams_closed"] += 1


async def _giant(size: int) -> AsyncIterator[bytes]:
    piece = b"data: " + b"x" * 65536
    sent = 0
    while sent < size:
        yield piece
        sent += len(piece)
        await asyncio.sleep(0)  # yields to the loop between pieces (a fast upstream), waits for nothing


async def _many(model: str, count: int) -> AsyncIterator[bytes]:
    event = orjson.dumps(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [{"index": 0, "delta": {"content": "a"}}],
        }
    )
    block = b"".join(b"data: " + event + b"\n\n" for _ in range(1000))
    for _ in range(count // 1000):
        yield block
    yield b"data: [DONE]\n\n"


async def _responses_break() -> AsyncIterator[bytes]:
    created = {
        "type": "response.created",
        "sequence_number": 0,
        "response": {"id": "resp_hostile", "status": "in_progress"},
    }
    delta = {
        "type": "response.output_text.delta",
        "sequence_number": 1,
        "delta": "Hel",
        "item_id": "m",
        "output_index": 0,
    }
    yield b"event: response.created\ndata: " + orjson.dumps(created) + b"\n\n"
    yield b"event: response.output_text.delta\ndata: " + orjson.dumps(delta) + b"\n\n"
    raise ConnectionResetError("cut")
