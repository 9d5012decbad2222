"""What every emulated endpoint shares: scripted outcomes, token counts and prompt caching, answer text,
structured output, and errors in the dialect's shape.

The chat emulator (emulator/app.py) and the Responses emulator (emulator/responses.py) both answer from
one `EmulatorState` — one script queue, one prompt cache and one random stream per emulated upstream,
as one real server has — so what they share lives here, under public names, and neither imports the other.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import OrderedDict, defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from emulator.schema import instance_of

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
CACHE_MIN_TOKENS = 1024
CACHE_STEP_TOKENS = 128
JSON_TYPE = "application/json"
_WORDS = (
    "routing pays when the cheap tier finishes the task and the expensive tier is kept for the steps "
    "that need it so every answer here is emulated and counted with a real tokenizer"
).split()


# What OpenAI says of the organisation behind the upstream key on every answer: far from its limits. A proxy
# that enforces its own per-client limits must not pass these on as its client's (the tests check it does not).
ORGANISATION_RATE_HEADERS = {
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-reset-requests": "6ms",
    "x-ratelimit-limit-tokens": "30000000",
    "x-ratelimit-remaining-tokens": "29999975",
    "x-ratelimit-reset-tokens": "0s",
}


def answer_headers(state: EmulatorState) -> dict[str, str] | None:
    """The headers of a successful answer: OpenAI's rate-limit headers (vLLM and Ollama send none)."""
    return ORGANISATION_RATE_HEADERS if state.dialect == "openai" else None


class Abort(Exception):
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
    answers: dict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))  # scripted chat texts
    answers_made: int = 0  # text answers written so far (each draws its words from a generator of its own)
    rng_salt: float = field(default_factory=random.random)  # the seed when seeded; else two emulators differ

    def next_scripted(self, model: str) -> str:
        """The next scripted outcome for `model`, or "ok" once its script is spent."""
        script = self.scripts.get(model)
        return script.popleft() if script else "ok"

    def next_outcome(self, model: str, body: dict[str, Any], api: str = "chat") -> str:
        if self.scripts.get(model):
            return self.next_scripted(model)
        probabilities = self.degrade.get(model)
        if probabilities:
            label = _label(body, api)
            if self.rng.random() < probabilities.get(label, 0.0):
                return "bad_tool_json" if offers_tools(body) else "empty"
        return "ok"


def _label(body: dict[str, Any], api: str) -> str:
    from classifier import classify  # the emulator's notion of class is the router's

    return classify(body, api=api).label


def offers_tools(body: dict[str, Any]) -> bool:
    return bool(body.get("tools") or body.get("functions")) and body.get("tool_choice") != "none"


def _prompt_text(body: dict[str, Any]) -> bytes:
    """A stable serialisation of everything that counts as prompt: tools first, then messages."""
    return orjson.dumps([body.get("tools"), body.get("messages")], option=orjson.OPT_SORT_KEYS)


def count_prompt(state: EmulatorState, model: str, body: dict[str, Any]) -> tuple[int, int]:
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


def answer_text(state: EmulatorState, body: dict[str, Any]) -> str:
    scripted = state.answers.get(str(body.get("model")))
    if scripted:  # a text queued with `POST /_mock/script {"answers": [...]}` (a judge's SUCCESS / FAILURE)
        return scripted.popleft()
    limit = body.get("max_completion_tokens") or body.get("max_tokens") or 40
    n = max(1, min(int(limit) if isinstance(limit, int) else 40, state.rng.randint(12, 40)))
    start = state.rng.randrange(len(_WORDS))
    # Each word drawn on its own, as a sampled model writes: a run of the sentence from `start` gave only ~900
    # distinct answers, so identical prompts got identical answers every few hundred calls, which real traffic
    # almost never shows (and which task identity cannot tell apart). Drawn from a generator of this answer's
    # own, so the emulator's other draws (degraded answers, ...) stay what a seed made them.
    state.answers_made += 1
    words = random.Random(f"{start}/{n}/{state.answers_made}/{state.rng_salt}")
    return " ".join(words.choice(_WORDS) for _ in range(n)).capitalize() + "."


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


def reasoning_tokens(model: str, body: dict[str, Any]) -> int:
    if not model.startswith(("gpt-5", "o1", "o3", "o4")):
        return 0
    effort = body.get("reasoning_effort") or "medium"
    return {"none": 0, "minimal": 0, "low": 16, "medium": 64, "high": 256}.get(effort, 64)


def within_cap(text: str, reasoning: int, cap: Any) -> tuple[str, int]:
    """(text, reasoning tokens) cut to the request's output cap, as a real model stops at it: the cap counts
    reasoning and visible tokens together. Reasoning takes at most half of it, so a small cap still gets words."""
    if type(cap) is not int or cap <= 0:
        return text, reasoning
    reasoning = min(reasoning, cap // 2)
    room = cap - reasoning
    if len(_encode(text)) <= room:
        return text, reasoning
    words = text.split(" ")
    fits, over = 0, len(words)  # the most words that fit, found in a few encodes even for a long answer
    while over - fits > 1:
        middle = (fits + over) // 2
        fits, over = (middle, over) if len(_encode(" ".join(words[:middle]))) <= room else (fits, middle)
    return " ".join(words[:fits]), reasoning


async def json_body(state: EmulatorState, request: Request) -> Any:
    """The request's parsed JSON, or (as a Response) the 400 OpenAI answers to a body it cannot parse."""
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return error_response(
            state, 400, "We could not parse the JSON body of your request.", "invalid_request_error", None
        )


def error_response(
    state: EmulatorState,
    status: int,
    message: str,
    etype: str,
    code: str | None,
    headers: dict[str, str] | None = None,
    param: str | None = None,
) -> Response:
    if state.dialect == "vllm":
        payload: Any = {"error": {"message": message, "type": etype, "param": param, "code": status}}
    elif state.dialect == "ollama":
        payload = {"error": message}
    else:
        payload = {"error": {"message": message, "type": etype, "param": param, "code": code}}
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON_TYPE, headers=headers)


def scripted_error(state: EmulatorState, outcome: str) -> Response | None:
    if outcome == "429":
        return error_response(
            state,
            429,
            "Rate limit reached for requests. Please try again in 1s.",
            "requests",
            "rate_limit_exceeded",
            {"retry-after": "1", "retry-after-ms": "1000"},
        )
    if outcome == "429_quota":
        return error_response(
            state,
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        )
    if outcome == "500":
        return error_response(
            state, 500, "The server had an error while processing your request.", "server_error", None
        )
    if outcome == "503":
        return error_response(
            state, 503, "The engine is currently overloaded, please try again later.", "server_error", None
        )
    if outcome == "context_length_exceeded":
        return error_response(
            state,
            400,
            "This model's maximum context length is 272000 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
        )
    return None


async def cut_short(raw: bytes) -> AsyncIterator[bytes]:
    """A JSON answer's first half, then the connection cut: the `disconnect_mid_stream` outcome of a JSON answer."""
    yield raw[: len(raw) // 2]
    raise Abort("scripted disconnect mid-answer")


async def sleep_for(state: EmulatorState, outcome: str) -> None:
    """The configured latency, and the endless wait of a scripted timeout."""
    if state.latency_s:
        await asyncio.sleep(state.latency_s)
    if outcome == "timeout":
        await asyncio.sleep(state.timeout_s)
