"""Configuration: a YAML file plus `ROUTETAX_*` environment overrides, validated at start.

Tiers, prices, timeouts and the store are configuration, not code. Everything has a
documented default so that a minimal file (or no file at all) works. A bad value stops
the process at start with a message naming the key, because a gateway that starts with a
half-understood config fails later, on real traffic.

Environment overrides use `__` to walk into the tree and are parsed as YAML scalars:
`ROUTETAX_SERVER__PORT=8080`, `ROUTETAX_TIERS__NANO__BASE_URL=http://...`,
`ROUTETAX_STORE__REDIS_URL=redis://...`. Only variables whose first segment names a
top-level section are overrides; `ROUTETAX_CONFIG` names the file. Overrides merge into the file's
values, and a tier they name starts from its default when the file does not list it.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from metering.tax.roles import Role, assign_roles
from router.dialects import dialect_for, dialect_names

ENV_PREFIX = "ROUTETAX_"
CONFIG_ENV = "ROUTETAX_CONFIG"

OPENAI_BASE_URL = "https://api.openai.com/v1"


class ConfigError(Exception):
    """A configuration problem, with a message naming the offending key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timeouts(_Strict):
    """Per-tier timeouts in seconds. `read` bounds the wait for each chunk, not the whole answer."""

    connect: float = Field(5.0, gt=0)
    read: float = Field(120.0, gt=0)


class TierPrice(_Strict):
    """Per-tier price override in USD per 1M tokens (the litellm map is used otherwise)."""

    input: float = Field(ge=0)
    cached_input: float | None = Field(None, ge=0)
    output: float = Field(ge=0)


# Context windows (input tokens) of the models the defaults name; other models: configure `max_input_tokens`.
KNOWN_INPUT_LIMITS = {
    "gpt-5.4-nano": 272_000,
    "gpt-5.4-mini": 272_000,
    "gpt-5.4": 1_050_000,
    "gpt-5.5": 1_050_000,
    "Qwen/Qwen3.5-9B": 262_144,
    "qwen3.5:9b": 262_144,
}

# Default fallback chains by tier name, filtered to the tiers that are configured.
DEFAULT_FALLBACKS = {"nano": ["mini", "full"], "qwen": ["mini"], "mini": ["full"]}


class Tier(_Strict):
    """One upstream the router can send traffic to."""

    model: str = Field(min_length=1)
    base_url: str = OPENAI_BASE_URL
    api_key_env: str | None = None
    dialect: str = "openai"  # one of router.dialects.DIALECTS: how this upstream strays from OpenAI's protocol
    timeouts: Timeouts = Timeouts()
    pool_size: int = Field(10_000, ge=1, le=100_000)  # connections open at once: each stream holds one
    price: TierPrice | None = None
    gpu_hour_usd: float | None = Field(None, ge=0)
    region: Literal["us", "eu"] | None = None
    fallbacks: list[str] | None = None  # None: the default chain for this tier's name
    max_input_tokens: int | None = Field(None, ge=1)  # None: known limit of the model, else unchecked
    hold_tool_calls: bool = False  # streams: hold tool-call deltas until the call is complete and valid
    responses: bool | None = None  # serves /v1/responses; None: yes for the openai dialect, no otherwise
    # its part in the routing-tax question (cheap, mid, self_hosted, full): the report's policies are keyed by role,
    # so a renamed tier keeps its policies; None: by the default tier names, then by the model it serves
    role: Role | None = None

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return upstream_base_url(value)

    @field_validator("dialect")
    @classmethod
    def _registered_dialect(cls, value: str) -> str:
        if value not in dialect_names():
            raise ValueError(f"must be one of {', '.join(dialect_names())}")
        return value

    def serves_responses(self) -> bool:
        return self.responses if self.responses is not None else dialect_for(self.dialect).serves_responses

    def input_limit(self) -> int | None:
        return self.max_input_tokens or KNOWN_INPUT_LIMITS.get(self.model)

    def api_key(self) -> str | None:
        """The upstream key, read from the environment when needed and never stored in config."""
        return os.environ.get(self.api_key_env) if self.api_key_env else None


# DNS labels, plus `_`: container and compose service names use it, and resolvers accept it.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


def upstream_base_url(value: str) -> str:
    """A tier's base URL, checked whole at start: http(s), a host that can be resolved, a port that exists.

    Anything looser starts a proxy that answers every request with an error while `/readyz` says ready:
    `http://` has no host, port 99999 cannot be dialled, a space in the host or after the path makes every
    upstream URL wrong. Credentials in the URL are refused too: the tiers are logged at start.
    """
    if value != value.strip() or any(c.isspace() for c in value):
        raise ValueError(f"must be a URL without spaces, got {value!r}")
    try:
        parts = urlsplit(value)
    except ValueError as exc:  # an unbalanced IPv6 bracket
        raise ValueError(f"must be a valid http:// or https:// URL ({exc}), got {value!r}") from None
    try:
        port = parts.port
    except ValueError:  # out of range, or not a number
        raise ValueError(f"must name a port from 1 to 65535, got {value!r}") from None
    if parts.scheme not in ("http", "https") or not value.lower().startswith(("http://", "https://")):
        raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
    host = parts.hostname or ""
    if not host:
        raise ValueError(f"must name a host (http://HOST[:PORT]/...), got {value!r}")
    if "[" in parts.netloc:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"must name a valid IPv6 address in brackets, got {value!r}") from None
    elif not _HOST_NAME.fullmatch(host):
        raise ValueError(f"must name a valid host name or IP address, got {host!r} in {value!r}")
    if port == 0:
        raise ValueError(f"must name a port from 1 to 65535, got {value!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials: give the key in the variable named by api_key_env")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ValueError(f"must not have a query or fragment (request paths are appended to it), got {value!r}")
    return value.rstrip("/")


class Store(_Strict):
    """Where the ledger lives. No URL: in-process and non-durable (quickstart only)."""

    redis_url: str | None = None
    cluster: bool = False
    spool_dir: str = "var/spool"
    # A size cap on the spool (None: the disk's free space), and the room kept for requests already admitted:
    # while Redis is down and the spool has less room than the reserve, new requests are refused (503).
    spool_max_bytes: int | None = Field(None, gt=0)
    spool_reserve_bytes: int = Field(16 * 1024 * 1024, ge=0)
    response_ttl_s: float = Field(30 * 24 * 3600, gt=0)  # how long a response id remembers its tier

    @property
    def durable(self) -> bool:
        """A Redis outlives this process; the in-process store (no URL) forgets everything at exit."""
        return self.redis_url is not None

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value


class Metering(_Strict):
    """`enabled: false` routes without metering: no usage parsing, pricing, metrics or ledger records.

    For a measurement of what metering costs, or a routing-only deployment; the routing-tax
    report, the auto policy and key budgets all need it on.
    """

    enabled: bool = True


class Server(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(4000, ge=0, le=65535)
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    max_header_bytes: int = Field(64 * 1024, ge=1024)  # the request line and all headers together; more -> 431
    max_headers: int = Field(100, ge=8)  # more -> 431
    header_timeout_s: float = Field(10.0, gt=0)  # headers not complete this long after the connection opened -> 408
    body_timeout_s: float = Field(60.0, gt=0)  # a body not complete this long after its headers -> 408
    # An idle kept-alive connection is closed after this long. Above the clients' own idle expiry (httpx and the
    # openai SDK 5 s, aiohttp 15 s, Go 90 s), so the client closes it first: closed here at the moment a client
    # reuses it, the client's next request fails (httpcore.ReadError, ServerDisconnectedError) — uvicorn's 5 s
    # equals httpx's and did, in tests/test_task_identity_acceptance.py.
    keep_alive_s: float = Field(120.0, gt=0)


class Log(_Strict):
    """routetax's own logs (docs/logging.md): one JSON schema on stderr, an access line per request, WARNING storms
    summarised.

    `format`: json (one object a line, what a log pipeline reads) or text (a person at a terminal; also
    `routetax serve --log-format text`). `level`: the lowest level written (`--log-level`). `access`: one line per
    finished or refused proxied request, written off the request path — on by default: the line an on-call
    engineer needs is the one from before they knew to turn it on. `warning_burst` lines of one kind of WARNING (an
    upstream failing with one error, say) are written per `warning_window_s`; the rest are counted and summarised.
    """

    format: Literal["json", "text"] = "json"
    level: Literal["debug", "info", "warning", "error"] = "info"
    access: bool = True
    warning_burst: int = Field(5, ge=1)
    warning_window_s: float = Field(10.0, gt=0)


class AutoPolicy(_Strict):
    """How `mode: auto` measures: a sliding window of recent requests, re-evaluated every few seconds."""

    window_requests: int = Field(500, ge=10)
    min_requests: int = Field(50, ge=1)
    hysteresis: float = Field(0.03, ge=0, le=0.5)
    evaluate_every_s: float = Field(5.0, ge=0)


class Explore(_Strict):
    """Exploration: a share of `auto` traffic sent to a tier drawn at random, so every tier x class is measured.

    Routed traffic alone never measures nano on agentic work (the policy never sends it there), so
    the success rate that decides the verdict would only ever be the published one. Off by default.
    """

    share: float = Field(0.0, ge=0, le=1)
    tiers: list[str] = Field(default_factory=lambda: ["nano", "mini", "qwen"])  # the candidates (if configured)
    seed: int | None = None  # fixed: reproducible draws (tests, the demo)


class Policy(_Strict):
    """Which tier serves each class of request when the client asks for model `auto`.

    A decision whose confidence is below `min_confidence` (text heuristics only, no
    structural evidence) goes to the agentic tier: the safer one, since a misrouted agentic
    request costs a failed task while a misrouted single-turn one costs a few cents.
    """

    single_turn: str = "nano"
    agentic: str = "mini"
    min_confidence: float = Field(0.6, ge=0, le=1)
    mode: Literal["dual", "mini_only", "auto"] = "dual"  # auto: mini-only while the share is above break-even
    cache_affinity: bool = True  # keep a conversation on its tier while moving forfeits more cache than it saves
    auto: AutoPolicy = AutoPolicy()
    explore: Explore = Explore()


class Breaker(_Strict):
    """Per-tier circuit breaker thresholds."""

    consecutive_failures: int = Field(5, ge=1)
    failure_rate: float = Field(0.5, gt=0, le=1)
    window_s: float = Field(30.0, gt=0)
    min_requests: int = Field(20, ge=1)
    cooldown_s: float = Field(10.0, gt=0)


class Resilience(_Strict):
    """Retries, the per-request deadline across all attempts, and the breaker."""

    max_retries: int = Field(2, ge=0, le=10)  # per tier, after the first attempt
    retry_after_cap_s: float = Field(20.0, ge=0)  # a longer Retry-After moves on to the next tier instead
    deadline_s: float = Field(300.0, gt=0)  # clients may shorten it with `x-routetax-deadline-ms`
    breaker: Breaker = Breaker()


class FailureRemedy(_Strict):
    """What a failed task costs to put right, in the task-level policies: exactly one of the two.

    `usd`: that many dollars per failed task (the source analysis's threshold is $0.019 per degraded output).
    `redo_on`: the failed task is redone on that tier (normally `full`), at its measured cost per task of the
    task's class, and completes with that tier's measured success rate.
    """

    usd: float | None = Field(None, ge=0)
    redo_on: str | None = None

    @model_validator(mode="after")
    def _one_remedy(self) -> FailureRemedy:
        if (self.usd is None) == (self.redo_on is None):
            raise ValueError("give exactly one of usd (dollars per failed task) or redo_on (a tier)")
        return self


class Report(_Strict):
    """Inputs of the routing-tax report that traffic cannot measure (printed as assumptions)."""

    router_hour_usd: float = Field(0.0, ge=0)  # what running routetax costs per hour
    classifier_usd_per_request: float = Field(0.0, ge=0)
    failure_cost_usd: float = Field(0.0, ge=0)  # what remedying one failed task costs the application (e.g. 0.019)
    failure_remedy: FailureRemedy | None = None  # the task-level policies' remedy; None: a failure costs nothing more
    # Judged tasks (feedback, the judge) are a random sample of all tasks: the verdict may then be decided on the
    # judged rates' intervals alone. Off, it must also hold with every unknown outcome a failure and a success.
    outcomes_are_a_sample: bool = False


class Auth(_Strict):
    """Client access: `open` (no keys) or `keys` (virtual keys); unset: keys when a Redis store is configured."""

    mode: Literal["open", "keys"] | None = None
    admin_key_env: str | None = "ROUTETAX_ADMIN_KEY"  # guards /v1/routing-tax (required in keys mode)
    metrics_token_env: str | None = None  # when set (and the variable has a value), /metrics needs it as a bearer
    cache_s: float = Field(2.0, ge=0, le=60)  # key lookups are cached this long: revocation reaches every replica
    # When the store cannot take writes: `closed` refuses keys that have a budget or rate limit (503), `open`
    # serves them unchecked and charges their spend when the store returns. Keys without limits are always served.
    on_store_error: Literal["closed", "open"] = "closed"
    metrics_open: bool = False  # keys mode: serve /metrics (key names, teams, spend) without a token — say so loudly


class Judge(_Strict):
    """An optional judge: a tier that grades a share of ended tasks that got no feedback, from their final exchange.

    Its calls are measurement spend (recorded apart, charged to no policy); where a task has both a judge's
    grade and the application's feedback, their agreement is reported.
    """

    tier: str
    share: float = Field(0.1, gt=0, le=1)
    prompt: str = (
        "You grade whether an AI assistant completed the task it was given. Read the final exchange and answer "
        "with exactly one word: SUCCESS or FAILURE."
    )


class Tasks(_Strict):
    """Tasks: one agent run or one conversation, the unit that succeeds or fails (docs/tasks.md).

    `idle_s`: a task with no step for this long has ended. `machine_pace_s`: a continuation sent this soon
    after the answer it extends was sent by a program, not a person (the loop signal). `max_steps`: a task that
    reaches it has failed (detected). `repeated_calls`: that many identical tool calls in a row is a loop that
    failed. `max_entries`: continuations remembered per process (the oldest are forgotten past it).
    """

    enabled: bool = True
    idle_s: float = Field(300.0, gt=0)
    machine_pace_s: float = Field(5.0, gt=0)
    max_steps: int = Field(100, ge=2)
    repeated_calls: int = Field(4, ge=2)
    max_entries: int = Field(200_000, ge=1000)
    judge: Judge | None = None


DEFAULT_EMBEDDING_MODELS = ("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002")
DEFAULT_EMBEDDING_TIER = "nano"  # the OpenAI account that serves the cheapest chat tier serves embeddings too


class Embeddings(_Strict):
    """`/v1/embeddings`: passed through to one tier, unclassified, priced per embedding model.

    Embeddings are not tasks, so there is nothing to route: every request goes to `tier`, with the
    model the client named (one of `models`). Unset `tier`: `nano` when it speaks the openai dialect
    (an OpenAI account serves embeddings), else none. `enabled: false` turns the endpoint off
    (404 `embeddings_not_configured`) whatever the tiers are.
    """

    enabled: bool = True
    tier: str | None = None
    models: list[str] = Field(default_factory=lambda: list(DEFAULT_EMBEDDING_MODELS), min_length=1)

    @field_validator("models")
    @classmethod
    def _model_names(cls, value: list[str]) -> list[str]:
        if any(not name.strip() for name in value):
            raise ValueError("model names must be non-empty strings")
        return list(dict.fromkeys(value))


def default_tiers() -> dict[str, Tier]:
    return {
        "nano": Tier(model="gpt-5.4-nano", api_key_env="OPENAI_API_KEY"),
        "mini": Tier(model="gpt-5.4-mini", api_key_env="OPENAI_API_KEY"),
        "qwen": Tier(model="Qwen/Qwen3.5-9B", base_url="http://127.0.0.1:8000/v1", dialect="vllm"),
        "full": Tier(model="gpt-5.4", api_key_env="OPENAI_API_KEY"),
    }


class Config(_Strict):
    tiers: dict[str, Tier] = Field(default_factory=default_tiers)
    store: Store = Store()
    server: Server = Server()
    policy: Policy = Policy()
    resilience: Resilience = Resilience()
    report: Report = Report()
    auth: Auth = Auth()
    metering: Metering = Metering()
    embeddings: Embeddings = Embeddings()
    tasks: Tasks = Tasks()
    log: Log = Log()

    @field_validator("tiers")
    @classmethod
    def _some_tiers(cls, value: dict[str, Tier]) -> dict[str, Tier]:
        if not value:
            raise ValueError("at least one tier is required")
        for name in value:
            if name == "auto" or not name.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"tier name {name!r} must be alphanumeric (and not 'auto')")
        return value

    @model_validator(mode="after")
    def _names_are_tiers(self) -> Config:
        played: dict[Role, str] = {}
        for name, tier in self.tiers.items():
            if tier.role is not None and tier.role in played:
                raise ValueError(f"tiers.{name}.role: {tier.role} is already played by tier {played[tier.role]!r}")
            if tier.role is not None:
                played[tier.role] = name
        for cls_name in ("single_turn", "agentic"):
            tier = getattr(self.policy, cls_name)
            if tier not in self.tiers:
                raise ValueError(f"policy.{cls_name}: tier {tier!r} is not configured")
        explore = self.policy.explore
        if explore.share > 0 and "tiers" in explore.model_fields_set:  # the default list may name absent tiers
            for name in explore.tiers:
                if name not in self.tiers:
                    raise ValueError(f"policy.explore.tiers: tier {name!r} is not configured")
        if explore.share > 0 and len(self.explore_tiers()) < 2:
            raise ValueError("policy.explore.tiers: exploring needs at least two configured tiers to draw from")
        judge = self.tasks.judge
        if judge is not None and judge.tier not in self.tiers:
            raise ValueError(f"tasks.judge.tier: tier {judge.tier!r} is not configured")
        for name, tier in self.tiers.items():
            for target in tier.fallbacks or ():
                if target not in self.tiers or target == name:
                    raise ValueError(f"tiers.{name}.fallbacks: {target!r} is not another configured tier")
        remedy = self.report.failure_remedy
        if remedy is not None and remedy.redo_on is not None and remedy.redo_on not in self.tiers:
            raise ValueError(f"report.failure_remedy.redo_on: tier {remedy.redo_on!r} is not configured")
        if remedy is not None and self.report.failure_cost_usd:
            raise ValueError(
                "report.failure_remedy: failure_cost_usd already prices a failure; give one of them "
                "(failure_remedy: {usd: X} is the same as failure_cost_usd: X)"
            )
        tier = self.embeddings.tier
        if tier is not None and tier not in self.tiers:
            raise ValueError(f"embeddings.tier: tier {tier!r} is not configured")
        if not self.metering.enabled:
            if self.policy.mode == "auto":
                raise ValueError("policy.mode: auto needs metering (metering.enabled is false)")
            if self.auth.mode == "keys" or (self.auth.mode is None and self.store.redis_url is not None):
                raise ValueError(
                    "auth: key budgets and token limits need metering; with metering.enabled false set auth.mode: open"
                )
        return self

    def roles(self) -> dict[Role, str]:
        """Which tier plays each role in the routing-tax report (`tiers.<name>.role`, else by name, else by model)."""
        return assign_roles({name: (tier.model, tier.role) for name, tier in self.tiers.items()})

    def explore_tiers(self) -> list[str]:
        """The exploration candidates that are configured tiers (the default list names qwen, which may not be)."""
        return [name for name in dict.fromkeys(self.policy.explore.tiers) if name in self.tiers]

    def embeddings_tier(self) -> str | None:
        """The tier that serves `/v1/embeddings`, or None: the endpoint is off (404 `embeddings_not_configured`)."""
        embeddings = self.embeddings
        if not embeddings.enabled:
            return None
        if embeddings.tier is not None:
            return embeddings.tier
        default = self.tiers.get(DEFAULT_EMBEDDING_TIER)
        return DEFAULT_EMBEDDING_TIER if default is not None and default.dialect == "openai" else None

    def embedding_tier(self, model: str) -> str | None:
        """The tier to send an embeddings request for `model` to; None when the endpoint is off or `model`
        is not one of `embeddings.models` (tell the two apart with `embeddings_tier()`)."""
        return self.embeddings_tier() if model in self.embeddings.models else None

    def chain(self, tier: str) -> list[str]:
        """The tier followed by its fallbacks, each tier at most once."""
        configured = self.tiers[tier].fallbacks
        fallbacks = DEFAULT_FALLBACKS.get(tier, []) if configured is None else configured
        chain = [tier]
        for name in fallbacks:
            if name in self.tiers and name not in chain:
                chain.append(name)
        return chain


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    sections = set(Config.model_fields)
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        if path[0] not in sections:
            continue
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = yaml.safe_load(raw) if raw != "" else None
    return tree


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _onto_default_tiers(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The configuration the `tiers` overrides apply to: a tier they name starts from its default.

    `ROUTETAX_TIERS__NANO__BASE_URL=...` with no `tiers` in the file moves nano and keeps the other default
    tiers; a tier the file does not list but the defaults do (`ROUTETAX_TIERS__QWEN__BASE_URL`) starts from
    its default too. Without this an override would be the whole `tiers` section, and nano would lack its model.
    """
    named = overrides.get("tiers")
    if not isinstance(named, dict):
        return data
    defaults = {name: tier.model_dump(exclude_defaults=True) for name, tier in default_tiers().items()}
    listed = data.get("tiers")
    if "tiers" not in data:
        return {**data, "tiers": defaults}
    if not isinstance(listed, dict):
        return data  # not a mapping: validation names it
    added = {name: defaults[name] for name in named if name in defaults and name not in listed}
    return {**data, "tiers": {**listed, **added}}


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")  # pydantic's prefix for a validator's own message
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{key}: {message}")
    return "; ".join(lines)


def load_config(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the file (argument, else `ROUTETAX_CONFIG`, else defaults), apply env overrides, validate."""
    environ = os.environ if environ is None else environ
    path = path or environ.get(CONFIG_ENV) or None
    data: dict[str, Any] = {}
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path}: the top level must be a mapping")
        data = loaded
    overrides = _env_overrides(environ)
    data = _merge(_onto_default_tiers(data, overrides), overrides)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        source = f" (file {path}, with ROUTETAX_* overrides)" if path else " (ROUTETAX_* overrides)"
        raise ConfigError(f"invalid configuration{source}: {_describe(exc)}") from None
