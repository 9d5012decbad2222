"""The emulator's embeddings API: `POST /v1/embeddings` as OpenAI publishes it (CreateEmbeddingRequest/Response).

What a client and metering rely on is real: every input form the protocol allows (a string, strings, token
ids, lists of token ids), `float` or `base64` vectors (little-endian float32, which the openai SDK asks for
by default and decodes), `dimensions` on the text-embedding-3 models only (the first values of the native
vector, renormalised, as those models shorten theirs), and `usage.prompt_tokens` counted with the same
tokenizer the chat emulator uses. Vectors are deterministic — the same model and input always give the same
unit vector — so a client's cache or similarity test behaves. Bad requests get OpenAI's 400 shape.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import sys
import time
import uuid
from array import array
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from emulator.behaviour import (
    JSON_TYPE,
    EmulatorState,
    cut_short,
    error_response,
    json_body,
    scripted_error,
    sleep_for,
)
from metering.tokens import count_text

NATIVE_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
DEFAULT_DIMENSIONS = 1536  # a model the emulator does not know answers like ada-002
SHORTENABLE_PREFIX = "text-embedding-3"  # `dimensions` is supported from these models on
MAX_INPUTS = 2048
MAX_INPUT_TOKENS = 8192  # per input, for every embedding model
MAX_REQUEST_TOKENS = 300_000  # summed over one request's inputs
FIELDS = frozenset({"model", "input", "encoding_format", "dimensions", "user"})  # additionalProperties: false
ENCODINGS = ("float", "base64")

Item = str | list[int]  # one input: a text, or its token ids


class Invalid(Exception):
    """A request OpenAI would refuse with a 400, naming the parameter at fault when there is one."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def _is_int(value: Any) -> bool:
    return type(value) is int


def inputs_of(value: Any) -> list[Item]:
    """The request's inputs, one per vector to return; Invalid when `input` is none of the four allowed forms."""
    if isinstance(value, str):
        if not value:
            raise Invalid("'$.input' is invalid: the input cannot be an empty string.", "input")
        return [value]
    if not isinstance(value, list) or not value:
        raise Invalid("'input' must be a non-empty string, array of strings, or array of token arrays.", "input")
    if len(value) > MAX_INPUTS:
        raise Invalid(f"'$.input' is invalid: at most {MAX_INPUTS} inputs per request.", "input")
    if all(isinstance(item, str) for item in value):
        if any(not item for item in value):
            raise Invalid("'$.input' is invalid: an input cannot be an empty string.", "input")
        return list(value)
    if all(_is_int(item) for item in value):
        return [list(value)]  # one text as token ids
    if all(isinstance(item, list) and item and all(_is_int(token) for token in item) for item in value):
        return [list(item) for item in value]
    raise Invalid("'$.input' is invalid: mix of strings, token ids and token arrays, or an empty token array.", "input")


def tokens_of(item: Item) -> int:
    return count_text(item) if isinstance(item, str) else len(item)


def dimensions_for(model: str, requested: Any) -> int:
    """The length of each vector: the model's own, or `dimensions` where the model can shorten its vectors."""
    native = NATIVE_DIMENSIONS.get(model, DEFAULT_DIMENSIONS)
    if requested is None:
        return native
    if not _is_int(requested) or requested < 1:
        raise Invalid("'dimensions' must be an integer of at least 1.", "dimensions")
    if not model.startswith(SHORTENABLE_PREFIX):
        raise Invalid("This model does not support specifying dimensions.", "dimensions")
    if requested > native:
        raise Invalid(f"'dimensions' must be at most {native} for {model}.", "dimensions")
    return requested


def vector(model: str, item: Item, native: int, dimensions: int) -> array[float]:
    """A unit vector drawn from (model, input): the native vector's first `dimensions` values, renormalised."""
    seed = item.encode() if isinstance(item, str) else b"\x00ids" + struct.pack(f"<{len(item)}q", *item)
    raw = hashlib.shake_256(model.encode() + b"\x00" + seed).digest(4 * native)
    values = [v / 2**31 - 1.0 for v in struct.unpack(f"<{dimensions}I", raw[: 4 * dimensions])]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return array("f", [v / norm for v in values])  # float32, as the real models answer


def encoded(values: array[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "float":
        return values.tolist()
    if sys.byteorder != "little":
        values = array("f", values)
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode()


def answer(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    """The CreateEmbeddingResponse for a valid body; Invalid for anything OpenAI would refuse."""
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise Invalid(f"Unrecognized request argument supplied: {unknown[0]}", unknown[0])
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise Invalid("You must provide a model parameter.", "model")
    if "input" not in body:
        raise Invalid("'input' is a required property", "input")
    items = inputs_of(body["input"])
    encoding_format = body.get("encoding_format")
    encoding_format = "float" if encoding_format is None else encoding_format
    if encoding_format not in ENCODINGS:
        raise Invalid("'encoding_format' must be one of 'float' or 'base64'.", "encoding_format")
    dimensions = dimensions_for(model, body.get("dimensions"))
    counts = [tokens_of(item) for item in items]
    longest = max(counts)
    if longest > MAX_INPUT_TOKENS:
        raise Invalid(
            f"This model's maximum context length is {MAX_INPUT_TOKENS} tokens, however you requested {longest} "
            f"tokens ({longest} in your prompt; 0 for the completion). Please reduce your prompt; or completion length."
        )
    if sum(counts) > MAX_REQUEST_TOKENS:
        raise Invalid(f"Requested {sum(counts)} tokens, max {MAX_REQUEST_TOKENS} tokens per request", "input")
    native = NATIVE_DIMENSIONS.get(model, DEFAULT_DIMENSIONS)
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": encoded(vector(model, item, native, dimensions), encoding_format),
        }
        for i, item in enumerate(items)
    ]
    prompt_tokens = sum(counts)
    usage: dict[str, int] = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    payload: dict[str, Any] = {"object": "list", "data": data, "model": model, "usage": usage}
    if state.dialect == "vllm":  # vLLM's EmbeddingResponse: an id, a time, and a zero completion count
        payload = {"id": f"embd-{uuid.uuid4().hex}", "created": int(time.time()), **payload}
        usage["completion_tokens"] = 0
    return payload


def embeddings_routes(state: EmulatorState) -> list[Route]:
    """`POST /v1/embeddings`, sharing the chat emulator's state (scripted outcomes, latency, dialect)."""

    async def create(request: Request) -> Response:
        body = await json_body(state, request)
        if isinstance(body, Response):
            return body
        if not isinstance(body, dict):
            return error_response(state, 400, "The body must be a JSON object.", "invalid_request_error", None)
        model = str(body.get("model", "unknown"))
        state.requests[model] += 1
        outcome = state.next_scripted(model)  # tool and empty-answer outcomes mean nothing here: answered normally
        await sleep_for(state, outcome)
        error = scripted_error(state, outcome)
        if error is not None:
            return error
        try:
            payload = answer(state, body)
        except Invalid as exc:
            return error_response(state, 400, exc.message, "invalid_request_error", None, param=exc.param)
        raw = orjson.dumps(payload)
        if outcome == "disconnect_mid_stream":
            return StreamingResponse(cut_short(raw), media_type=JSON_TYPE)
        return Response(raw, media_type=JSON_TYPE)

    return [Route("/v1/embeddings", create, methods=["POST"])]
