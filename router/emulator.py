"""`routetax mock-upstream`: an upstream emulator that speaks OpenAI, vLLM and Ollama over real HTTP.

Users dry-run routetax against it; the demo, the tests and the benchmarks use it so they
need no network and no key. It behaves like the real servers where metering cares:
prompt tokens counted with a real tokenizer, prompt-cache hits for repeated prefixes of at
least 1,024 tokens in 128-token steps, reasoning tokens for reasoning models, streamed
text in several chunks, `tool_calls` when tools are offered, and each dialect's quirks
(vLLM and Ollama send no `prompt_tokens_details`; vLLM's error `code` is an integer;
Ollama's errors are a bare string).

Faults are scripted per model (`POST /_mock/script`), one outcome per request, or drawn
at random per request class for simulations.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
import uuid
from collections import OrderedDict, defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from metering.tokens import count_text
from router.emulator_responses import responses_routes
from router.emulator_schema import instance_of

OUTCOMES = frozenset(
    {
        "ok",
        "429",
        "429_quota",
        "500",
        "503",
        "timeout",
        "disconnect_mid_stream",
        "bad_tool_json",
        "empty",
        "context_length_exceeded",
    }
)
# The dialects (of router.dialects.DIALECTS) it impersonates; llama.cpp is served by the real engine
# (router/local_engine). Their shapes are written here, not taken from the dialect modules, so that the
# tests catch a dialect module that misreads its engine.
EMULATED_DIALECTS = ("openai", "vllm", "ollama")
CACHE_MIN_TOKENS = 1024
CACHE_STEP_TOKENS = 128
_JSON = "application/json"
_WORDS = (
    "routing pays when the cheap tier finishes the task and the expensive tier is kept for the steps "
    "that need it so every answer here is emulated and counted with a real tokenizer"
).split()


class _Abort(Exception):
    """Raised inside a response body to cut the connection without finishing the answer."""


@dataclass
class EmulatorState:
    dialect: str = "openai"
    latency_s: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    scripts: dict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    degrade: dict[str, dict[str, float]] = field(default_factory=dict)
    chunk_delay_s: dict[str, float] = field(default_factory=dict)  # per model: a slow stream, for cut tests
    seen_prefixes: dict[str, set[bytes]] = field(default_factory=lambda: defaultdict(set))
    requests: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    token_cache: OrderedDict[bytes, tuple[int, list[bytes]]] = field(default_factory=OrderedDict)
    timeout_s: float = 600.0

    def next_outcome(self, model: str, body: dict[str, Any], api: str = "chat") -> str:
        script = self.scripts.get(model)
        if script:
            return script.popleft()
        probabilities = self.degrade.get(model)
        if probabilities:
            label = _label(body, api)
            if self.rng.random() < probabilities.get(label, 0.0):
                return "bad_tool_json" if _offers_tools(body) else "empty"
        return "ok"


def _label(body: dict[str, Any], api: str) -> str:
    from classifier import classify  # the emulator's notion of class is the router's

    return classify(body, api=api).label


def _offers_tools(body: dict[str, Any]) -> bool:
    return bool(body.get("tools") or body.get("functions")) and body.get("tool_choice") != "none"


def _prompt_text(body: dict[str, Any]) -> bytes:
    """A stable serialisation of everything that counts as prompt: tools first, then messages."""
    return orjson.dumps([body.get("tools"), body.get("messages")], option=orjson.OPT_SORT_KEYS)


def _prompt_tokens(state: EmulatorState, model: str, body: dict[str, Any]) -> tuple[int, int]:
    """(prompt_tokens, cached_tokens): cached when a ≥1,024-token prefix was seen before for `model`."""
    text = _prompt_text(body)
    key = hashlib.blake2b(text, digest_size=16).digest()
    cached_entry = state.token_cache.get(key)
    if cached_entry is None:
        tokens = _encode(text.decode())
        blocks = []
        digest = hashlib.blake2b(digest_size=16)
        for end in range(CACHE_STEP_TOKENS, len(tokens) + 1, CACHE_STEP_TOKENS):
            digest.update(repr(tokens[end - CACHE_STEP_TOKENS : end]).encode())
            if end >= CACHE_MIN_TOKENS:
                blocks.append(digest.copy().digest() + end.to_bytes(4, "big"))
        cached_entry = (len(tokens), blocks)
        state.token_cache[key] = cached_entry
        if len(state.token_cache) > 4096:
            state.token_cache.popitem(last=False)
    n_tokens, blocks = cached_entry
    seen = state.seen_prefixes[model]
    cached = 0
    for block in reversed(blocks):
        if block in seen:
            cached = int.from_bytes(block[-4:], "big")
            break
    seen.update(blocks)
    return n_tokens, cached


def _encode(text: str) -> list[int]:
    from metering.tokens import encode

    return encode(text)


def _answer_text(state: EmulatorState, body: dict[str, Any]) -> str:
    limit = body.get("max_completion_tokens") or body.get("max_tokens") or 40
    n = max(1, min(int(limit) if isinstance(limit, int) else 40, state.rng.randint(12, 40)))
    start = state.rng.randrange(len(_WORDS))
    return " ".join(_WORDS[(start + i) % len(_WORDS)] for i in range(n)).capitalize() + "."


def structured_schema(response_format: Any) -> dict[str, Any] | None:
    """The JSON schema an answer must follow (`response_format`, or the Responses API's `text.format`), if any."""
    if not isinstance(response_format, dict):
        return None
    if response_format.get("type") == "json_schema":
        # chat nests it under `json_schema`; the Responses API puts `schema` on the format itself
        holder = response_format.get("json_schema") if "json_schema" in response_format else response_format
        schema = (holder or {}).get("schema") if isinstance(holder, dict) else None
        return schema if isinstance(schema, dict) else {"type": "object"}
    if response_format.get("type") == "json_object":
        return {"type": "object", "properties": {"answer": {"type": "string"}}}
    return None


def structured_text(schema: dict[str, Any]) -> str:
    return orjson.dumps(instance_of(schema)).decode()


def tool_arguments(parameters: Any) -> str:
    """Arguments valid against the tool's parameter schema: typed as declared, every property present."""
    value = instance_of(parameters) if isinstance(parameters, dict) and parameters else {}
    return orjson.dumps(value if isinstance(value, dict) else {}).decode()


def _tool_call(body: dict[str, Any], broken: bool) -> dict[str, Any]:
    tools = body.get("tools") or [{"function": f} for f in body.get("functions") or []]
    function = (tools[0].get("function") or {}) if isinstance(tools[0], dict) else {}
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
    """Call a tool when offered one, unless the last turn is a tool result (then answer in text)."""
    if not _offers_tools(body):
        return False
    messages = body.get("messages") or []
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    return last.get("role") not in ("tool", "function")


def _reasoning_tokens(model: str, body: dict[str, Any]) -> int:
    if not model.startswith(("gpt-5", "o1", "o3", "o4")):
        return 0
    effort = body.get("reasoning_effort") or "medium"
    return {"none": 0, "minimal": 0, "low": 16, "medium": 64, "high": 256}.get(effort, 64)


def _error(
    state: EmulatorState, status: int, message: str, etype: str, code: str | None, headers: dict[str, str] | None = None
) -> Response:
    if state.dialect == "vllm":
        payload: Any = {"error": {"message": message, "type": etype, "param": None, "code": status}}
    elif state.dialect == "ollama":
        payload = {"error": message}
    else:
        payload = {"error": {"message": message, "type": etype, "param": None, "code": code}}
    return Response(orjson.dumps(payload), status_code=status, media_type=_JSON, headers=headers)


def _scripted_error(state: EmulatorState, outcome: str) -> Response | None:
    if outcome == "429":
        return _error(
            state,
            429,
            "Rate limit reached for requests. Please try again in 1s.",
            "requests",
            "rate_limit_exceeded",
            {"retry-after": "1", "retry-after-ms": "1000"},
        )
    if outcome == "429_quota":
        return _error(
            state,
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        )
    if outcome == "500":
        return _error(state, 500, "The server had an error while processing your request.", "server_error", None)
    if outcome == "503":
        return _error(state, 503, "The engine is currently overloaded, please try again later.", "server_error", None)
    if outcome == "context_length_exceeded":
        return _error(
            state,
            400,
            "This model's maximum context length is 272000 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
        )
    return None


async def _sleep_for(state: EmulatorState, outcome: str) -> None:
    """The configured latency, and the endless wait of a scripted timeout."""
    if state.latency_s:
        await asyncio.sleep(state.latency_s)
    if outcome == "timeout":
        await asyncio.sleep(state.timeout_s)


def build_emulator(dialect: str = "openai", latency_ms: float = 0.0, seed: int | None = None) -> Starlette:
    """The emulator app; `routetax mock-upstream` serves it with uvicorn."""
    if dialect not in EMULATED_DIALECTS:
        raise ValueError(f"the emulator impersonates the {', '.join(EMULATED_DIALECTS)} dialects, not {dialect!r}")
    state = EmulatorState(dialect=dialect, latency_s=latency_ms / 1000, rng=random.Random(seed))

    async def chat(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(
                state, 400, "We could not parse the JSON body of your request.", "invalid_request_error", None
            )
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(state, 400, "'messages' is a required property", "invalid_request_error", None)
        model = str(body.get("model", "unknown"))
        state.requests[model] += 1
        outcome = state.next_outcome(model, body)
        await _sleep_for(state, outcome)
        error = _scripted_error(state, outcome)
        if error is not None:
            return error
        prompt_tokens, cached = _prompt_tokens(state, model, body)
        call = (
            _tool_call(body, broken=outcome == "bad_tool_json")
            if _wants_tool_call(body) or outcome == ("bad_tool_json") and _offers_tools(body)
            else None
        )
        schema = structured_schema(body.get("response_format"))
        if outcome == "empty" or call is not None:
            text = ""
        else:
            text = structured_text(schema) if schema is not None else _answer_text(state, body)
        reasoning = _reasoning_tokens(model, body)
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
            return StreamingResponse(chunks, media_type="text/event-stream")
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
            return StreamingResponse(_cut(raw), media_type=_JSON)
        return Response(raw, media_type=_JSON)

    async def models(_request: Request) -> Response:
        names = sorted(set(state.requests) | set(state.scripts)) or ["gpt-5.4-nano", "gpt-5.4-mini"]
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "routetax-emulator"} for n in names]
        return Response(orjson.dumps({"object": "list", "data": data}), media_type=_JSON)

    async def script(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(state, 400, "invalid JSON", "invalid_request_error", None)
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str):
            return _error(state, 400, "'model' is required", "invalid_request_error", None)
        outcomes = body.get("outcomes", [])
        unknown = [o for o in outcomes if o not in OUTCOMES]
        if not isinstance(outcomes, list) or unknown:
            return _error(
                state, 400, f"unknown outcomes {unknown}; known: {sorted(OUTCOMES)}", "invalid_request_error", None
            )
        state.scripts[model].extend(outcomes)
        if "degrade_probability" in body:
            state.degrade[model] = dict(body["degrade_probability"] or {})
        if "chunk_delay_ms" in body:
            state.chunk_delay_s[model] = float(body["chunk_delay_ms"]) / 1000
        return Response(
            orjson.dumps(
                {"model": model, "queued": list(state.scripts[model]), "degrade_probability": state.degrade.get(model)}
            ),
            media_type=_JSON,
        )

    async def stats(_request: Request) -> Response:
        return Response(orjson.dumps({"requests": dict(state.requests)}), media_type=_JSON)

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/_mock/script", script, methods=["POST"]),
            Route("/_mock/stats", stats, methods=["GET"]),
            *responses_routes(state),
        ]
    )
    app.state.emulator = state
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
            raise _Abort("scripted disconnect mid-stream")
        yield event(delta)
        if delay_s:
            await asyncio.sleep(delay_s)
        elif i % 8 == 7:
            await asyncio.sleep(0)
    yield event({}, finish)
    if usage is not None:
        yield b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n"
    yield b"data: [DONE]\n\n"


async def _cut(raw: bytes) -> AsyncIterator[bytes]:
    yield raw[: len(raw) // 2]
    raise _Abort("scripted disconnect mid-answer")
