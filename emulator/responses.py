"""The emulator's Responses API: `/v1/responses` JSON and SSE, stored responses, continuations.

Responses are kept in memory by id (with the input that produced them) so that
`previous_response_id` continues a conversation, and `GET`/`DELETE /v1/responses/{id}`
work, exactly where the state of a real upstream lives: at that upstream.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from emulator.behaviour import (
    JSON_TYPE,
    Abort,
    EmulatorState,
    answer_text,
    count_prompt,
    error_response,
    json_body,
    reasoning_tokens,
    scripted_error,
    sleep_for,
    structured_schema,
    structured_text,
    tool_arguments,
    within_cap,
)
from emulator.loops import more_rounds, react_answer, react_tools, rounds_done, system_text
from metering.tokens import count_text


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _input_items(body: dict[str, Any]) -> list[Any]:
    value = body.get("input")
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return list(value) if isinstance(value, list) else []


def _function_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in body.get("tools") or () if isinstance(t, dict) and t.get("type") == "function"]


def _wants_call(body: dict[str, Any], items: list[Any]) -> bool:
    if not _function_tools(body) or body.get("tool_choice") == "none":
        return False
    last = items[-1] if items else {}
    after_result = isinstance(last, dict) and last.get("type") == "function_call_output"
    return not after_result or more_rounds(items)  # emulator/loops.py: how many rounds the conversation gets


def responses_routes(state: EmulatorState) -> list[Route]:
    """Routes sharing the chat emulator's state (scripts, caches, randomness, dialect)."""

    stored: dict[str, dict[str, Any]] = {}

    async def create(request: Request) -> Response:
        body = await json_body(state, request)
        if isinstance(body, Response):
            return body
        if not isinstance(body, dict) or not isinstance(body.get("input"), str | list):
            return error_response(
                state, 400, "'input' is required: a string or a list of items.", "invalid_request_error", None
            )
        model = str(body.get("model", "unknown"))
        history: list[Any] = []
        previous = body.get("previous_response_id")
        if previous is not None:
            if previous not in stored:
                return Response(
                    orjson.dumps(
                        {
                            "error": {
                                "message": f"Previous response with id '{previous}' not found.",
                                "type": "invalid_request_error",
                                "param": "previous_response_id",
                                "code": "previous_response_not_found",
                            }
                        }
                    ),
                    status_code=404,
                    media_type=JSON_TYPE,
                )
            history = stored[previous]["history"]
        state.requests[model] += 1
        outcome = state.next_outcome(model, body, "responses")
        await sleep_for(state, outcome)
        stream = body.get("stream") is True
        if not (stream and outcome == "500"):
            error = scripted_error(state, outcome)
            if error is not None:
                return error
        items = history + _input_items(body)
        prompt_body = {
            "tools": body.get("tools"),
            "messages": [{"role": "system", "content": body.get("instructions")}, *items],
        }
        input_tokens, cached = count_prompt(state, model, prompt_body)
        call_wanted = _wants_call(body, items) or (outcome == "bad_tool_json" and _function_tools(body))
        output: list[dict[str, Any]] = []
        if call_wanted:
            offered = _function_tools(body)
            tool = offered[rounds_done(items) % len(offered)]  # the next offered tool in turn
            arguments = tool_arguments(tool.get("parameters"))
            if outcome == "bad_tool_json":
                arguments = arguments[:-1] + ', "unterminated'
            output.append(
                {
                    "type": "function_call",
                    "id": _id("fc"),
                    "call_id": _id("call"),
                    "name": tool.get("name", "tool"),
                    "arguments": arguments,
                    "status": "completed",
                }
            )
            text = ""
        else:
            schema = structured_schema((body.get("text") or {}).get("format"))
            if outcome == "empty":
                text = ""
            elif schema is not None:
                text = structured_text(schema)
            else:
                text = answer_text(state, {"max_tokens": body.get("max_output_tokens")})
                react = react_tools(body.get("instructions") or system_text(items))
                text = text if react is None else react_answer(react, items, text)
            output.append(
                {
                    "type": "message",
                    "id": _id("msg"),
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
                }
            )
        reasoning = reasoning_tokens(model, {"reasoning_effort": (body.get("reasoning") or {}).get("effort")})
        cut = False
        if text:  # the message is the output's last item: cut to the cap, as a real model stops at it
            whole = (text, reasoning)
            text, reasoning = within_cap(text, reasoning, body.get("max_output_tokens"))
            output[-1]["content"][0]["text"] = text
            cut = (text, reasoning) != whole
        visible = count_text(text) + sum(
            count_text(o.get("arguments", "")) + 4 for o in output if o["type"] == "function_call"
        )
        output_tokens = reasoning + visible
        usage = {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
            "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": reasoning},
        }
        limit = body.get("max_output_tokens")
        status, incomplete = "completed", None
        if cut or isinstance(limit, int) and output_tokens > limit:
            status, incomplete = "incomplete", {"reason": "max_output_tokens"}
        response = {
            "id": _id("resp"),
            "object": "response",
            "created_at": int(time.time()),
            "status": status,
            "error": None,
            "incomplete_details": incomplete,
            "instructions": body.get("instructions"),
            "max_output_tokens": limit,
            "model": model,
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": previous,
            "reasoning": {"effort": None, "summary": None},
            "service_tier": body.get("service_tier") or "default",
            "store": True,
            "temperature": 1.0,
            "text": body.get("text") or {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": [_echoed(tool) for tool in body.get("tools") or []],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage,
            "metadata": body.get("metadata") or {},
        }
        if body.get("store", True) is not False:
            stored[response["id"]] = {"response": response, "history": items + output}
        if stream:
            events = _events(response, failed=outcome == "500")
            delay_s = state.chunk_delay_s.get(model, 0.0)
            return StreamingResponse(
                _sse(events, cut=outcome == "disconnect_mid_stream", abort=Abort, delay_s=delay_s),
                media_type="text/event-stream",
            )
        return Response(orjson.dumps(response), media_type=JSON_TYPE)

    async def retrieve(request: Request) -> Response:
        entry = stored.get(request.path_params["response_id"])
        if entry is None:
            return _not_found(request.path_params["response_id"])
        return Response(orjson.dumps(entry["response"]), media_type=JSON_TYPE)

    async def delete(request: Request) -> Response:
        response_id = request.path_params["response_id"]
        if stored.pop(response_id, None) is None:
            return _not_found(response_id)
        return Response(orjson.dumps({"id": response_id, "object": "response", "deleted": True}), media_type=JSON_TYPE)

    return [
        Route("/v1/responses", create, methods=["POST"]),
        Route("/v1/responses/{response_id}", retrieve, methods=["GET"]),
        Route("/v1/responses/{response_id}", delete, methods=["DELETE"]),
    ]


def _echoed(tool: Any) -> Any:
    """A tool as the response object echoes it: function tools carry `strict` (true unless the client said)."""
    if isinstance(tool, dict) and tool.get("type") == "function":
        return {"description": None, "parameters": None, **tool, "strict": tool.get("strict", True)}
    return tool


def _not_found(response_id: str) -> Response:
    error = {
        "message": f"Response with id '{response_id}' not found.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    return Response(orjson.dumps({"error": error}), status_code=404, media_type=JSON_TYPE)


def _events(response: dict[str, Any], failed: bool) -> list[tuple[str, dict[str, Any]]]:
    """The event sequence OpenAI sends for one response, with usage on the final event."""
    # usage arrives with the final event; the spec's Response has no null usage, so the key is left out until then
    start = {k: v for k, v in response.items() if k != "usage"} | {"status": "in_progress", "output": []}
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": start}),
        ("response.in_progress", {"response": start}),
    ]
    if failed:
        error = {"code": "server_error", "message": "The model failed to generate a response."}
        events.append(("response.failed", {"response": {**start, "status": "failed", "error": error}}))
        return events
    for index, item in enumerate(response["output"]):
        if item["type"] == "function_call":
            events.append(
                (
                    "response.output_item.added",
                    {"output_index": index, "item": {**item, "arguments": "", "status": "in_progress"}},
                )
            )
            half = len(item["arguments"]) // 2
            for part in (item["arguments"][:half], item["arguments"][half:]):
                events.append(
                    (
                        "response.function_call_arguments.delta",
                        {"item_id": item["id"], "output_index": index, "delta": part},
                    )
                )
            events.append(
                (
                    "response.function_call_arguments.done",
                    {
                        "item_id": item["id"],
                        "output_index": index,
                        "name": item["name"],
                        "arguments": item["arguments"],
                    },
                )
            )
        else:
            text = item["content"][0]["text"]
            events.append(
                (
                    "response.output_item.added",
                    {"output_index": index, "item": {**item, "status": "in_progress", "content": []}},
                )
            )
            events.append(
                (
                    "response.content_part.added",
                    {
                        "item_id": item["id"],
                        "output_index": index,
                        "content_index": 0,
                        "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []},
                    },
                )
            )
            for i, word in enumerate(text.split(" ")):
                events.append(
                    (
                        "response.output_text.delta",
                        {
                            "item_id": item["id"],
                            "output_index": index,
                            "content_index": 0,
                            "delta": (" " if i else "") + word,
                            "logprobs": [],
                        },
                    )
                )
            events.append(
                (
                    "response.output_text.done",
                    {"item_id": item["id"], "output_index": index, "content_index": 0, "text": text, "logprobs": []},
                )
            )
            events.append(
                (
                    "response.content_part.done",
                    {"item_id": item["id"], "output_index": index, "content_index": 0, "part": item["content"][0]},
                )
            )
        events.append(("response.output_item.done", {"output_index": index, "item": item}))
    final = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
    events.append((final, {"response": response}))
    return events


async def _sse(
    events: list[tuple[str, dict[str, Any]]], cut: bool, abort: type[Exception], delay_s: float = 0.0
) -> AsyncIterator[bytes]:
    for sequence, (kind, data) in enumerate(events):
        if cut and sequence >= len(events) // 2:
            raise abort("scripted disconnect mid-stream")
        payload = orjson.dumps({"type": kind, "sequence_number": sequence, **data})
        yield b"event: " + kind.encode() + b"\ndata: " + payload + b"\n\n"
        if delay_s and kind.endswith(".delta"):  # `chunk_delay_ms` paces the visible events, as on chat
            await asyncio.sleep(delay_s)
