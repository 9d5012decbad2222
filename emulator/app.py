"""`routetax mock-upstream`: an upstream emulator that speaks OpenAI, vLLM and Ollama over real HTTP.

Users dry-run routetax against it; the demo, the tests and the benchmarks use it so they
need no network and no key. It behaves like the real servers where metering cares:
prompt tokens counted with a real tokenizer, prompt-cache hits for repeated prefixes of at
least 1,024 tokens in 128-token steps, reasoning tokens for reasoning models, streamed
text in several chunks, `tool_calls` when tools are offered (for as many rounds as the conversation
asks, emulator/loops.py), the ReAct text protocol when the system prompt asks for it, and each dialect's quirks
(vLLM and Ollama send no `prompt_tokens_details`; vLLM's error `code` is an integer;
Ollama's errors are a bare string).

Faults are scripted per model (`POST /_mock/script`), one outcome per request, or drawn
at random per request class for simulations.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from emulator.behaviour import (
    JSON_TYPE,
    OUTCOMES,
    Abort,
    EmulatorState,
    answer_headers,
    answer_text,
    count_prompt,
    cut_short,
    error_response,
    json_body,
    offers_tools,
    reasoning_tokens,
    scripted_error,
    sleep_for,
    structured_schema,
    structured_text,
    tool_arguments,
    within_cap,
)
from emulator.door import Door, new_received
from emulator.embeddings import embeddings_routes
from emulator.loops import more_rounds, react_answer, react_tools, rounds_done, system_text
from emulator.responses import responses_routes
from metering.tokens import count_text

# The dialects (of router.dialects.DIALECTS) it impersonates; llama.cpp is served by the real engine
# (demo/local_engine). Their shapes are written here, not taken from the dialect modules, so that the
# tests catch a dialect module that misreads its engine.
EMULATED_DIALECTS = ("openai", "vllm", "ollama")


def _tool_call(body: dict[str, Any], broken: bool) -> dict[str, Any]:
    """A call of the next offered tool in turn (the first one on a conversation's first round)."""
    tools = body.get("tools") or [{"function": f} for f in body.get("functions") or []]
    tool = tools[rounds_done(body.get("messages") or []) % len(tools)]
    function = (tool.get("function") or {}) if isinstance(tool, dict) else {}
    name = function.get("name", "tool")
    arguments = tool_arguments(function.get("parameters") if isinstance(function, dict) else None)
    if broken:
        arguments = arguments[:-1] + ', "unterminated'
    return {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def _wants_tool_call(body: dict[str, Any]) -> bool:
    """Call a tool when offered one; after a tool result, only while the conversation asks for more rounds
    (emulator/loops.py: one round per user turn unless its first user message says `[N tool rounds]`)."""
    if not offers_tools(body):
        return False
    messages = body.get("messages") or []
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    return last.get("role") not in ("tool", "function") or more_rounds(messages)


def _text_answer(state: EmulatorState, body: dict[str, Any]) -> str:
    """Prose, or the next ReAct turn when the system prompt asks for that text protocol."""
    messages = body.get("messages") or []
    tools = react_tools(system_text(messages))
    prose = answer_text(state, body)
    return prose if tools is None else react_answer(tools, messages, prose)


def build_emulator(
    dialect: str = "openai", latency_ms: float = 0.0, seed: int | None = None, api_key: str | None = None
) -> Starlette:
    """The emulator app; `routetax mock-upstream` serves it with uvicorn. `api_key`: refuse requests without it."""
    if dialect not in EMULATED_DIALECTS:
        raise ValueError(f"the emulator impersonates the {', '.join(EMULATED_DIALECTS)} dialects, not {dialect!r}")
    state = EmulatorState(dialect=dialect, latency_s=latency_ms / 1000, rng=random.Random(seed))
    if seed is not None:  # a seeded emulator writes the same answers on every run
        state.rng_salt = float(seed)

    async def chat(request: Request) -> Response:
        body = await json_body(state, request)
        if isinstance(body, Response):
            return body
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return error_response(state, 400, "'messages' is a required property", "invalid_request_error", None)
        model = str(body.get("model", "unknown"))
        state.requests[model] += 1
        outcome = state.next_outcome(model, body)
        await sleep_for(state, outcome)
        error = scripted_error(state, outcome)
        if error is not None:
            return error
        prompt_tokens, cached = count_prompt(state, model, body)
        call = (
            _tool_call(body, broken=outcome == "bad_tool_json")
            if _wants_tool_call(body) or outcome == ("bad_tool_json") and offers_tools(body)
            else None
        )
        schema = structured_schema(body.get("response_format"))
        if outcome == "empty" or call is not None:
            text = ""
        else:
            text = structured_text(schema) if schema is not None else _text_answer(state, body)
        cap = body.get("max_completion_tokens") or body.get("max_tokens")
        text, reasoning = within_cap(text, reasoning_tokens(model, body), cap)
        completion_tokens = (
            reasoning + count_text(text) + (count_text(call["function"]["arguments"]) + 4 if call else 0)
        )
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if state.dialect == "openai":
            usage["prompt_tokens_details"] = {"cached_tokens": cached, "audio_tokens": 0}
            usage["completion_tokens_details"] = {
                "reasoning_tokens": reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            }
        finish = "tool_calls" if call else "stop"
        meta = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time()), "model": model}
        if body.get("stream") is True:
            include_usage = (body.get("stream_options") or {}).get("include_usage") is True
            chunks = _stream(
                meta,
                text,
                call,
                finish,
                usage if include_usage else None,
                cut=outcome == "disconnect_mid_stream",
                service_tier=body.get("service_tier"),
                delay_s=state.chunk_delay_s.get(model, 0.0),
            )
            return StreamingResponse(chunks, media_type="text/event-stream", headers=answer_headers(state))
        message: dict[str, Any] = {"role": "assistant", "content": text or (None if call else ""), "refusal": None}
        if call:
            message["tool_calls"] = [call]
        payload = {
            **meta,
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage,
            "service_tier": body.get("service_tier") or "default",
            "system_fingerprint": "fp_routetax_emulator",
        }
        raw = orjson.dumps(payload)
        if outcome == "disconnect_mid_stream":
            return StreamingResponse(cut_short(raw), media_type=JSON_TYPE)
        return Response(raw, media_type=JSON_TYPE, headers=answer_headers(state))

    async def models(_request: Request) -> Response:
        names = sorted(set(state.requests) | set(state.scripts)) or ["gpt-5.4-nano", "gpt-5.4-mini"]
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "routetax-emulator"} for n in names]
        return Response(orjson.dumps({"object": "list", "data": data}), media_type=JSON_TYPE)

    async def script(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return error_response(state, 400, "invalid JSON", "invalid_request_error", None)
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str):
            return error_response(state, 400, "'model' is required", "invalid_request_error", None)
        outcomes = body.get("outcomes", [])
        unknown = [o for o in outcomes if o not in OUTCOMES]
        if not isinstance(outcomes, list) or unknown:
            return error_response(
                state, 400, f"unknown outcomes {unknown}; known: {sorted(OUTCOMES)}", "invalid_request_error", None
            )
        state.scripts[model].extend(outcomes)
        if "degrade_probability" in body:
            state.degrade[model] = dict(body["degrade_probability"] or {})
        if "answers" in body:
            state.answers[model].extend(str(text) for text in body["answers"] or ())
        if "chunk_delay_ms" in body:
            state.chunk_delay_s[model] = float(body["chunk_delay_ms"]) / 1000
        return Response(
            orjson.dumps(
                {"model": model, "queued": list(state.scripts[model]), "degrade_probability": state.degrade.get(model)}
            ),
            media_type=JSON_TYPE,
        )

    async def stats(_request: Request) -> Response:
        return Response(orjson.dumps({"requests": dict(state.requests)}), media_type=JSON_TYPE)

    received = new_received()

    async def headers(_request: Request) -> Response:
        """The most recent requests (oldest first): method, path and every header as received."""
        return Response(orjson.dumps({"requests": list(received)}), media_type=JSON_TYPE)

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/_mock/script", script, methods=["POST"]),
            Route("/_mock/stats", stats, methods=["GET"]),
            Route("/_mock/headers", headers, methods=["GET"]),
            *responses_routes(state),
            *embeddings_routes(state),
        ],
        middleware=[Middleware(Door, received=received, api_key=api_key)],
    )
    return app


async def _stream(
    meta: dict[str, Any],
    text: str,
    call: dict[str, Any] | None,
    finish: str,
    usage: dict[str, Any] | None,
    cut: bool,
    service_tier: str | None,
    delay_s: float = 0.0,
) -> AsyncIterator[bytes]:
    base = {
        **meta,
        "object": "chat.completion.chunk",
        "service_tier": service_tier or "default",
        "system_fingerprint": "fp_routetax_emulator",
    }
    if usage is not None:
        base["usage"] = None

    def event(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    yield event({"role": "assistant", "content": "" if call is None else None, "refusal": None})
    pieces: list[dict[str, Any]] = []
    if call is not None:
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        pieces.append(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["function"]["name"], "arguments": ""},
                    }
                ]
            }
        )
        pieces.extend(
            {"tool_calls": [{"index": 0, "function": {"arguments": part}}]}
            for part in (arguments[:half], arguments[half:])
        )
    else:
        words = text.split(" ")
        pieces.extend({"content": (" " if i else "") + word} for i, word in enumerate(words))
    for i, delta in enumerate(pieces):
        if cut and i >= max(1, len(pieces) // 2):
            raise Abort("scripted disconnect mid-stream")
        yield event(delta)
        if delay_s:
            await asyncio.sleep(delay_s)
        elif i % 8 == 7:
            await asyncio.sleep(0)
    yield event({}, finish)
    if usage is not None:
        yield b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n"
    yield b"data: [DONE]\n\n"
