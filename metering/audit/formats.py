"""The log shapes `routetax audit` reads, one JSON line at a time, turned into `Observation`s.

A line is one of:
- an OpenAI Batch input line `{custom_id, method, url, body}`;
- an OpenAI Batch output line `{id, custom_id, response: {status_code, body}, error}`;
- a bare request body (Chat Completions `messages` or Responses `input`);
- a `{"request": body, "response": answer}` pair (as many application logs keep them);
- a LiteLLM `LiteLLM_SpendLogs` row (its columns as JSON, the JSON columns either nested or
  as JSON text, as `psql`'s `row_to_json` and LiteLLM's `/spend/logs/v2` give them).

Parsing is pure: a line gives an `Observation`, a `BatchHalf` waiting for its partner, or a
`Skip` naming why it cannot be used. Nothing here raises on bad input: a request whose structure
its API refuses is `malformed_request` (metering/audit/shape.py), usage above its model's limits
`implausible_usage` (metering/audit/limits.py). LiteLLM rows stored with `latest_turn` are read by
what that setting keeps (metering/audit/latest_turn.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import ahocorasick_rs
import orjson

from classifier import AGENTIC
from classifier.core import classify_with_rule
from metering.audit.latest_turn import Stored, stored_as
from metering.audit.limits import implausible, limits_for
from metering.audit.shape import malformed
from metering.audit.task_keys import TaskKeys, header_name, keys_of, litellm_name
from metering.record import Usage
from metering.usage import usage_from


class Format(StrEnum):
    AUTO = "auto"
    OPENAI_BATCH = "openai-batch"
    BODIES = "bodies"
    PAIRS = "pairs"
    LITELLM_SPEND = "litellm-spend"


# The members as module names: in Python 3.11 reading a member off its Enum class (`Format.PAIRS`) costs about 85 ns
# (a plain class attribute 25), and `parse` read four or more on every line.
_AUTO, _AS_BATCH, _AS_BODIES, _AS_PAIRS, _AS_LITELLM = (
    Format.AUTO,
    Format.OPENAI_BATCH,
    Format.BODIES,
    Format.PAIRS,
    Format.LITELLM_SPEND,
)
_BODIES, _OPENAI_BATCH, _PAIRS, _LITELLM_SPEND = (
    Format.BODIES.value,
    Format.OPENAI_BATCH.value,
    Format.PAIRS.value,
    Format.LITELLM_SPEND.value,
)


class Skip(StrEnum):
    """Why a line was not used: a closed set, each counted in the summary."""

    INVALID_JSON = "invalid_json"  # not JSON, or not UTF-8
    NOT_AN_OBJECT = "not_an_object"  # JSON, but a number, string or array of non-objects
    UNRECOGNISED_SHAPE = "unrecognised_shape"  # none of the formats (or not the one --format names)
    UNSUPPORTED_ENDPOINT = "unsupported_endpoint"  # embeddings, images, ... (not chat or Responses)
    FAILED_REQUEST = "failed_request"  # an error answer: nothing served, nothing billed
    NO_REQUEST_BODY = "no_request_body"  # e.g. LiteLLM without store_prompts_in_spend_logs
    LITELLM_CACHE_HIT = "litellm_cache_hit"  # answered from LiteLLM's cache: no model call
    BATCH_OUTPUT_WITHOUT_INPUT = "batch_output_without_input"  # its custom_id never appeared in an input file
    BATCH_OUTPUT_AFTER_INPUT = "batch_output_after_input"  # its input was already counted, with estimated tokens
    DUPLICATE_LINE = "duplicate_line"  # a Batch line read before: same batch, custom_id and content
    DUPLICATE_FILE = "duplicate_file"  # a file with the same content as one given before it (counted once per file)
    MALFORMED_REQUEST = "malformed_request"  # values of types the API refuses ({"input": 5}, "tool_calls": 5, ...)
    IMPLAUSIBLE_USAGE = "implausible_usage"  # logged usage above the model's input or output limit
    OTHER_FORMAT = "other_format"  # --format names one format, the line is another (a LiteLLM row under bodies)
    NO_TIMESTAMP = "no_timestamp"  # --since/--until given, and the line carries no time
    OUTSIDE_WINDOW = "outside_window"  # before --since or at/after --until
    UNREADABLE_FILE = "unreadable_file"  # missing, unreadable, or a gzip stream cut short


SKIP_HELP = {
    Skip.INVALID_JSON: "not JSON (or not UTF-8)",
    Skip.NOT_AN_OBJECT: "JSON but not an object",
    Skip.UNRECOGNISED_SHAPE: "not a request body, pair, Batch line or LiteLLM row",
    Skip.UNSUPPORTED_ENDPOINT: "not chat or Responses (embeddings, images, ...)",
    Skip.FAILED_REQUEST: "an error answer: nothing was served",
    Skip.NO_REQUEST_BODY: "no request body logged (LiteLLM: store_prompts_in_spend_logs, see docs/audit.md)",
    Skip.LITELLM_CACHE_HIT: "served from LiteLLM's cache, no model call",
    Skip.BATCH_OUTPUT_WITHOUT_INPUT: "Batch output line whose input file was not given",
    Skip.BATCH_OUTPUT_AFTER_INPUT: "Batch output whose input was already counted with estimated tokens "
    "(too many inputs waited on one stream: give the output file first, or as a file of its own)",
    Skip.DUPLICATE_LINE: "a Batch line read before (same batch, custom_id and content): counted once",
    Skip.DUPLICATE_FILE: "a file with the same content as one given before it: read once (counted once per file)",
    Skip.MALFORMED_REQUEST: 'a request with values of types its API refuses ({"input": 5}, "tool_calls": 5, ...)',
    Skip.IMPLAUSIBLE_USAGE: "logged usage above the model's input or output limit: impossible, not priced",
    Skip.OTHER_FORMAT: "another format than --format names (see the warning on standard error)",
    Skip.NO_TIMESTAMP: "no time on the line, and --since/--until was given",
    Skip.OUTSIDE_WINDOW: "outside --since/--until",
    Skip.UNREADABLE_FILE: "file missing, unreadable or a gzip stream cut short (counted once per file)",
}

CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
RESPONSES_PATHS = frozenset({"/v1/responses", "/responses"})
LITELLM_CHAT_CALLS = frozenset({"completion", "acompletion"})
LITELLM_RESPONSES_CALLS = frozenset({"responses", "aresponses"})
TIME_KEYS = ("timestamp", "time", "created_at", "ts", "startTime", "start_time")


@dataclass(slots=True)
class Observation:
    """One request as the audit counts it."""

    fmt: str  # which reader produced it (the token estimator keeps one ratio per format)
    api: str  # "chat" | "responses"
    agentic: bool
    confident: bool  # classifier confidence at or above the router's default threshold (0.6)
    reasons: tuple[str, ...]
    model: str | None
    usage: Usage | None  # logged usage; None: estimate
    cached_known: bool  # the logged usage carried prompt-token details (cached share is known)
    batch: bool
    service_tier: str | None  # as reported by the answer; requested one when no answer was logged
    ts: float | None
    grep: bool  # the seed's `grep "tool_use\|function_call"` matches this request's line(s)
    size: int  # bytes of its line (a Batch request: its input line): the token estimator's scale
    body: dict[str, Any] | None  # kept only until its prompt tokens are sampled (see scan.TokenSampler)
    spend_usd: float | None = None  # cost the gateway logged (LiteLLM's `spend`)
    prompt_estimate: int | None = None  # tokenizer count of the prompt, when this line was sampled
    stored: Stored | None = None  # a LiteLLM row holding only what `latest_turn` keeps: how its class is read
    session: str | None = None  # LiteLLM's session_id
    team: str | None = None  # LiteLLM's team_id
    key_alias: str | None = None  # LiteLLM's key alias (metadata.user_api_key_alias): never the key itself
    task: TaskKeys | None = None  # what the request says about its task (metering/audit/task_keys.py)


@dataclass(slots=True)
class BatchHalf:
    """A Batch input or output line waiting for the other half with the same custom_id."""

    custom_id: str
    observation: Observation | None  # input: the request as classified; output (or a skipped input): None
    usage: Usage | None = None  # output: the answer's usage
    cached_known: bool = False
    service_tier: str | None = None
    ts: float | None = None
    failed: bool = False
    grep: bool = False
    size: int = 0
    source: int = 0  # which of the sources given it came from (set by the scanner)
    digest: int = 0  # hash of the line's bytes: a line read twice is a duplicate, a different one a collision
    skip: Skip | None = None  # an input that cannot be counted (malformed): its output is skipped with it
    is_input: bool = False  # an input line (its observation, or its skip); else an output line


Parsed = Observation | BatchHalf | Skip

MIN_CONFIDENCE = 0.6  # the router's default `policy.min_confidence`


# One automaton per word: with a single pattern ahocorasick_rs searches with a SIMD substring finder, about
# 0.3 us for both words on a 2 KB line; `b"tool_use" in raw or ...` takes 1.7 us, one automaton for both 1.4 us.
_TOOL_USE = ahocorasick_rs.BytesAhoCorasick([b"tool_use"]).find_matches_as_indexes
_FUNCTION_CALL = ahocorasick_rs.BytesAhoCorasick([b"function_call"]).find_matches_as_indexes


def grep_hit(raw: bytes) -> bool:
    """The source analysis's naive audit, `grep -c "tool_use\\|function_call"`, on one line."""
    return bool(_TOOL_USE(raw) or _FUNCTION_CALL(raw))


def parse(obj: Any, raw: bytes, fmt: Format) -> Parsed:
    """One decoded line (`obj`, from the bytes `raw`) as the audit reads it."""
    if not isinstance(obj, dict):
        return Skip.NOT_AN_OBJECT
    if fmt is _AUTO:  # `detect`'s tests in its order, without its call and the tests of its answer, on every line
        if "custom_id" in obj:
            if "body" in obj:
                return _batch_input(obj, raw)
            if "response" in obj or "error" in obj:
                return _batch_output(obj, raw)
        elif "request" in obj and "response" in obj:
            return _pair(obj, raw)
        if "call_type" in obj and "request_id" in obj:
            return _litellm_row(obj, raw)
        kind = detect(obj)
    else:
        kind = fmt
        other = detect(obj)
        if other is not None and other is not fmt:  # e.g. a LiteLLM row (it has `messages`) under --format bodies
            return Skip.OTHER_FORMAT
    if kind is _AS_PAIRS:
        return _pair(obj, raw)
    if kind is _AS_BATCH:
        if "custom_id" not in obj:
            return Skip.UNRECOGNISED_SHAPE
        return _batch_input(obj, raw) if "body" in obj else _batch_output(obj, raw)
    if kind is _AS_LITELLM:
        return _litellm_row(obj, raw)
    if kind is _AS_BODIES:
        return _bare_body(obj, raw)
    return Skip.UNRECOGNISED_SHAPE


def detect(obj: dict[str, Any]) -> Format | None:
    """The format of one line, from the keys only one format has."""
    if "custom_id" in obj and ("body" in obj or "response" in obj or "error" in obj):
        return _AS_BATCH
    if "request" in obj and "response" in obj:
        return _AS_PAIRS
    if "call_type" in obj and "request_id" in obj:
        return _AS_LITELLM
    if "messages" in obj or "input" in obj:
        return _AS_BODIES
    return None


def rows_of_page(obj: Any) -> list[Any] | None:
    """A LiteLLM `/spend/logs` page on one line: `[row, ...]` or `{"data": [row, ...], ...}`; else None."""
    if isinstance(obj, list):
        return obj if obj and all(isinstance(row, dict) for row in obj) else None
    if isinstance(obj, dict) and isinstance(obj.get("data"), list) and "total" in obj:
        return obj["data"]
    return None


def _api_of(body: dict[str, Any]) -> str:
    return "chat" if "messages" in body or "input" not in body else "responses"


def _observe(
    fmt: str,
    body: dict[str, Any],
    api: str,
    raw: bytes,
    usage: Usage | None = None,
    cached_known: bool = False,
    batch: bool = False,
    service_tier: str | None = None,
    ts: float | None = None,
    model: str | None = None,
    check: bool = True,
) -> Observation | Skip:
    if check and malformed(body, api):
        return Skip.MALFORMED_REQUEST
    decision = classify_with_rule(body, api)[0]  # `classify` itself is one more call around this, on every line
    if model is None:
        value = body.get("model")
        model = value if type(value) is str else None
    if service_tier is None and usage is None:
        requested = body.get("service_tier")
        service_tier = requested if type(requested) is str else None
    if usage is not None:  # `implausible(usage, model)`, without its call (once per line)
        most_in, most_out = limits_for(model)
        if usage.prompt_tokens > most_in or usage.completion_tokens > most_out:
            return Skip.IMPLAUSIBLE_USAGE
    # Positional: this runs once per line, and keyword construction costs a visible share of it.
    return Observation(
        fmt,
        api,
        decision.label == AGENTIC,
        decision.confidence >= MIN_CONFIDENCE,
        decision.reasons,
        model,
        usage,
        cached_known,
        batch,
        service_tier,
        ts,
        bool(_TOOL_USE(raw) or _FUNCTION_CALL(raw)),  # grep_hit, inlined
        len(raw),
        None if usage is not None else body,
    )


def _bare_body(obj: dict[str, Any], raw: bytes) -> Parsed:
    if "messages" not in obj and "input" not in obj:
        return Skip.UNRECOGNISED_SHAPE
    api = _api_of(obj)
    task = keys_of(obj, api, None, None, True)  # and the structure check, in the same walk of the messages
    if task is None:
        return Skip.MALFORMED_REQUEST
    observation = _observe(_BODIES, obj, api, raw, ts=_time_of(obj), check=False)
    if type(observation) is Observation:
        observation.task = task
    return observation


def _batch_input(obj: dict[str, Any], raw: bytes) -> Parsed:
    body, url, custom_id = obj.get("body"), obj.get("url"), obj.get("custom_id")
    if not isinstance(body, dict) or not isinstance(custom_id, str):
        return Skip.UNRECOGNISED_SHAPE
    if url in CHAT_PATHS:
        api = "chat"
    elif url in RESPONSES_PATHS:
        api = "responses"
    else:
        return Skip.UNSUPPORTED_ENDPOINT
    # The answer is in another file: joined by the history alone. The structure is checked in the same walk.
    task = keys_of(body, api, None, None, True)
    observation = (
        Skip.MALFORMED_REQUEST
        if task is None
        else _observe(_OPENAI_BATCH, body, api, raw, None, False, True, None, None, None, False)  # positional
    )
    if isinstance(observation, Skip):  # still joined, so that its output is skipped with it, for the same reason
        return BatchHalf(custom_id, None, digest=hash(raw), skip=observation, is_input=True)
    observation.task = task
    return BatchHalf(custom_id, observation, digest=hash(raw), is_input=True)


def _batch_output(obj: dict[str, Any], raw: bytes) -> Parsed:
    custom_id = obj.get("custom_id")
    if not isinstance(custom_id, str):
        return Skip.UNRECOGNISED_SHAPE
    response = obj.get("response")
    answer = response.get("body") if isinstance(response, dict) else None
    status = response.get("status_code") if isinstance(response, dict) else None
    if obj.get("error") or not isinstance(answer, dict) or not (isinstance(status, int) and 200 <= status < 300):
        return BatchHalf(custom_id, None, failed=True, grep=grep_hit(raw), size=len(raw), digest=hash(raw))
    usage, cached_known = _usage(answer)
    tier = answer.get("service_tier")
    # Positional, with the tier read and `grep_hit` inline: one of a request's two lines, and keyword construction and
    # the helpers' calls cost a visible share of it.
    return BatchHalf(
        custom_id,
        None,
        usage,
        cached_known,
        tier if type(tier) is str and tier else None,
        _time_of(answer),
        False,
        bool(_TOOL_USE(raw) or _FUNCTION_CALL(raw)),  # grep_hit, inlined
        len(raw),
        0,
        hash(raw),
    )


def merge_batch(held: BatchHalf, other: BatchHalf) -> Observation | Skip:
    """An input half and an output half with the same custom_id, as one request."""
    request, answer = (held, other) if held.is_input else (other, held)
    if request.skip is not None:
        return request.skip
    if answer.failed:
        return Skip.FAILED_REQUEST
    observation = request.observation
    assert observation is not None
    if answer.usage is not None and implausible(answer.usage, observation.model):
        return Skip.IMPLAUSIBLE_USAGE
    observation.usage = answer.usage
    observation.cached_known = answer.cached_known
    if answer.usage is not None:
        observation.body = None
    observation.service_tier = answer.service_tier or observation.service_tier
    observation.ts = answer.ts
    observation.grep = observation.grep or answer.grep
    return observation


def _pair(obj: dict[str, Any], raw: bytes) -> Parsed:
    if "request" not in obj:
        return Skip.UNRECOGNISED_SHAPE
    request, response = obj["request"], obj.get("response")
    if type(request) is not dict:
        return Skip.NO_REQUEST_BODY if request in (None, "") else Skip.UNRECOGNISED_SHAPE
    if "messages" in request:
        api = "chat"
    elif "input" in request:
        api = "responses"
    elif type(request.get("body")) is dict:  # {"request": {"url": ..., "body": {...}}}: a logged HTTP exchange
        return _pair({**obj, "request": request["body"], "headers": request.get("headers")}, raw)
    else:
        return Skip.NO_REQUEST_BODY if not request else Skip.UNRECOGNISED_SHAPE
    usage: Usage | None = None
    cached_known = False
    model = tier = None
    ts = _time_of(obj)
    if type(response) is dict:
        if "status_code" in response and type(response.get("body")) is dict:
            if not 200 <= _int(response["status_code"], 200) < 300:
                return Skip.FAILED_REQUEST
            response = response["body"]
        if response.get("error") and "usage" not in response:
            return Skip.FAILED_REQUEST
        logged = response.get("usage")
        if type(logged) is dict and response.get("response") is None:  # `_usage`'s common case, without its call
            tier = response.get("service_tier")
            usage, cached_known = _logged_usage(logged, tier if type(tier) is str else None)
            if usage is None:
                tier = None
        else:
            usage, cached_known = _usage(response)
            if usage is not None:
                tier = response.get("service_tier")
        model = response.get("model")
        if ts is None:
            ts = _time_of(response)
    if type(model) is not str or not model:
        model = request.get("model")
    # Positional, as every line of pairs makes these two calls: a keyword argument costs a visible share of a call.
    # The task keys first: their walk of the messages is also the structure check (None: malformed).
    headers = obj.get("headers")
    task = keys_of(request, api, response, None if headers is None else header_name(headers), True)
    if task is None:
        return Skip.MALFORMED_REQUEST
    observation = _observe(
        _PAIRS,
        request,
        api,
        raw,
        usage,
        cached_known,
        False,
        tier if type(tier) is str else None,
        ts,
        model if type(model) is str else None,
        False,
    )
    if type(observation) is Observation:
        observation.task = task
    return observation


def _litellm_row(obj: dict[str, Any], raw: bytes) -> Parsed:
    # Once per row: the columns are read inline (`_json_column`, `litellm_name` only where they have work to do), as
    # the same reading through a helper call per column was a visible share of a row's cost.
    if "request_id" not in obj or "call_type" not in obj:
        return Skip.UNRECOGNISED_SHAPE
    call_type = obj["call_type"]
    if call_type in LITELLM_CHAT_CALLS:
        api = "chat"
    elif call_type in LITELLM_RESPONSES_CALLS:
        api = "responses"
    else:
        return Skip.UNSUPPORTED_ENDPOINT
    if obj.get("status") == "failure":
        return Skip.FAILED_REQUEST
    hit = obj.get("cache_hit")
    # LiteLLM writes the column as the text "False" on nearly every row: told apart before `str().lower()`'s two calls.
    if hit is True or (hit is not None and hit is not False and hit != "False" and str(hit).lower() == "true"):
        return Skip.LITELLM_CACHE_HIT
    body = obj.get("proxy_server_request")
    if type(body) is str:
        body = _json_column(body)
    response = obj.get("response")
    if type(response) is str:
        response = _json_column(response)
    stored = stored_as(body, response) if isinstance(body, dict) else None
    # A body holding only what `latest_turn` keeps is read as it is: its class comes from the answer and the session.
    if stored is None and (not isinstance(body, dict) or ("messages" not in body and "input" not in body)):
        messages = _json_column(obj.get("messages"))
        if isinstance(messages, list) and messages:
            body = {"messages": messages} if api == "chat" else {"input": messages}
        else:
            return Skip.NO_REQUEST_BODY
    metadata = obj.get("metadata")
    if type(metadata) is str:
        metadata = _json_column(metadata)
    if type(metadata) is not dict:
        metadata = {}
    prompt, completion = obj.get("prompt_tokens"), obj.get("completion_tokens")
    if type(prompt) is not int or prompt < 0:
        prompt = 0
    if type(completion) is not int or completion < 0:
        completion = 0
    usage: Usage | None = None
    cached_known = False
    if prompt or completion:
        usage_object = metadata.get("usage_object")
        if type(usage_object) is dict:
            logged, cached_known = _logged_usage(usage_object, None)
            if logged is not None:
                if logged.prompt_tokens == prompt and logged.completion_tokens == completion:
                    usage = logged  # the columns agree with it (nearly every row): already the usage made below
                else:
                    cached, reasoning = min(logged.cached_tokens, prompt), min(logged.reasoning_tokens, completion)
                    usage = Usage(prompt, cached, completion, reasoning)
        if usage is None:
            extra = metadata.get("additional_usage_values")
            cached = _int(extra.get("cache_read_input_tokens"), 0) if type(extra) is dict else 0
            usage = Usage(prompt, min(cached, prompt), completion)
    tier = response.get("service_tier") if type(response) is dict else None
    model = obj.get("model")
    if type(model) is not str or not model:
        model = obj.get("model_group")
    session = obj.get("session_id")
    if type(session) is str and session:
        name = session
    else:
        session = None
        name = (
            litellm_name(obj, metadata)
            if "requester_metadata" in metadata or "spend_logs_metadata" in metadata
            else None
        )
    scope = obj.get("api_key")
    if stored is None:  # the task keys first: their walk of the messages is also the structure check (None: malformed)
        task = keys_of(body, api, response, name, True, scope=scope if type(scope) is str else None)
        if task is None:
            return Skip.MALFORMED_REQUEST
    else:
        task = keys_of(body, api, response, name, scope=scope if type(scope) is str else None, history=False)
    start = obj.get("startTime")
    observation = _observe(
        _LITELLM_SPEND,
        body,
        api,
        raw,
        usage,
        cached_known,
        False,
        tier if type(tier) is str and tier else None,
        _iso_seconds(start) if type(start) is str and start else parse_timestamp(start),
        model if type(model) is str and model else None,
        stored is not None and ("messages" in body or "input" in body),  # only the model kept: nothing to check
    )
    if type(observation) is not Observation:
        return observation
    observation.session = session
    observation.task = task
    team = obj.get("team_id")
    if type(team) is not str or not team:
        team = metadata.get("user_api_key_team_id")
    observation.team = team if type(team) is str and team else None
    alias = metadata.get("user_api_key_alias")
    observation.key_alias = alias if type(alias) is str and alias else None
    if stored is not None:
        observation.stored = stored
        if stored is not Stored.OPEN:
            observation.agentic, observation.confident, observation.reasons = True, True, (stored.value,)
    spend = obj.get("spend")
    if type(spend) is float or type(spend) is int:
        observation.spend_usd = float(spend)
    return observation


def _json_column(value: Any) -> Any:
    """A LiteLLM Json column: nested JSON from the API or row_to_json, or JSON text from a CSV-ish export."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return value


def _usage(answer: dict[str, Any]) -> tuple[Usage | None, bool]:
    """Usage of an answer, and whether it said how many prompt tokens were cached.

    The same reading as `metering.usage.usage_from` (which the proxy uses), unrolled for the
    shape nearly every logged answer has (a plain `usage` dict, at the top or in a Responses
    event's `response`): this runs once per line and the general reader's helper calls and
    keyword construction were a tenth of the audit's own time. Anything else goes through
    `usage_from` itself.
    """
    data = answer
    inner = answer.get("response")
    if inner is not None:
        if type(inner) is not dict:
            return _usage_general(answer)
        data = inner
    logged = data.get("usage")
    if type(logged) is not dict:
        return _usage_general(answer)
    tier = data.get("service_tier")
    return _logged_usage(logged, tier if type(tier) is str else None)


def _logged_usage(logged: dict[str, Any], tier: str | None) -> tuple[Usage | None, bool]:
    """`_usage` of a `usage` object itself (Chat Completions' or Responses' names), with the tier the answer reported:
    also how a LiteLLM row's `usage_object` is read."""
    if "input_tokens" in logged or "output_tokens" in logged:
        prompt, completion = logged.get("input_tokens"), logged.get("output_tokens")
        prompt_details, completion_details = logged.get("input_tokens_details"), logged.get("output_tokens_details")
    else:
        prompt, completion = logged.get("prompt_tokens"), logged.get("completion_tokens")
        prompt_details, completion_details = (
            logged.get("prompt_tokens_details"),
            logged.get("completion_tokens_details"),
        )
    if type(prompt) is not int or prompt < 0:
        prompt = 0
    if type(completion) is not int or completion < 0:
        completion = 0
    cached = prompt_details.get("cached_tokens") if type(prompt_details) is dict else 0
    if type(cached) is not int or cached < 0:
        cached = 0
    reasoning = completion_details.get("reasoning_tokens") if type(completion_details) is dict else 0
    if type(reasoning) is not int or reasoning < 0:
        reasoning = 0
    if cached > prompt or reasoning > completion:
        return None, False  # impossible counts: estimate instead of pricing nonsense
    return (
        Usage(prompt, cached, completion, reasoning, False, tier),
        "prompt_tokens_details" in logged or "input_tokens_details" in logged,
    )


def _usage_general(answer: dict[str, Any]) -> tuple[Usage | None, bool]:
    """`_usage` for the shapes its fast path leaves to `usage_from` (no usage dict, Ollama's counts, ...)."""
    usage = usage_from(answer)
    if usage is None:
        return None, False
    if usage.cached_tokens > usage.prompt_tokens or usage.reasoning_tokens > usage.completion_tokens:
        return None, False  # impossible counts: estimate instead of pricing nonsense
    inner = answer.get("response")
    if isinstance(inner, dict):  # a Responses event: usage_from read its inner response (and only a dict)
        answer = inner
    logged = answer.get("usage")
    return usage, type(logged) is dict and ("prompt_tokens_details" in logged or "input_tokens_details" in logged)


def _time_of(obj: dict[str, Any]) -> float | None:
    for key in TIME_KEYS:
        if key in obj:
            value = obj[key]
            # ISO text (most logs) read here: `parse_timestamp` or `_iso_seconds` would be one more call on every line.
            if type(value) is str and value:
                try:
                    moment = datetime.fromisoformat(value)
                except ValueError:
                    continue
                if moment.tzinfo is None:  # as `_iso_seconds` reads it: UTC
                    moment = moment.replace(tzinfo=UTC)
                return moment.timestamp()
            seconds = parse_timestamp(value)
            if seconds is not None:
                return seconds
    if "created" in obj:  # Chat Completions answers: unix seconds
        return parse_timestamp(obj["created"])
    return None


def parse_timestamp(value: Any) -> float | None:
    """Unix seconds from ISO-8601 text (naive means UTC) or a unix number (seconds or milliseconds)."""
    kind = type(value)
    if kind is str:
        return _iso_seconds(value) if value else None
    if kind is int or kind is float:
        seconds = float(value)
        return seconds / 1000 if seconds > 1e11 else seconds if seconds > 0 else None
    return None


def _iso_seconds(value: str) -> float | None:
    try:
        moment = datetime.fromisoformat(value)  # C: ≈ 1 us (a hand-written parser measured 4x slower)
    except ValueError:
        return None
    if moment.tzinfo is None:  # LiteLLM stores UTC without a zone; logs are read across zones
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _int(value: Any, default: int) -> int:
    return value if type(value) is int and value >= 0 else default
