"""Every refusal routetax can give, provoked over real HTTP: its status, OpenAI's shape, its code,
`x-should-retry: false` exactly when retrying cannot help, and one more in routetax_rejections_total.

One row per `Refusal` member (a test fails when a member has none). The rows share three proxies,
started once for the module: open mode; keys mode on a real Redis with an admin key; and keys mode
with neither a reachable store nor an admin key (its /metrics is closed by design, so its count is
read in-process).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
import redis.asyncio
from fastapi.routing import APIRoute

from cli import main as routetax
from demo.world import demo_config
from emulator.app import build_emulator
from router.config import Config
from router.errors import Refusal
from router.keys import HASH_INDEX, KeyStore, VirtualKey, hash_key
from router.servers import RunningServer
from tests.redis_server import RedisServer, free_port
from tests.running import Servers

HELLO = [{"role": "user", "content": "hi"}]
CAPPED_MINI = {"model": "mini", "messages": HELLO, "max_tokens": 40}
ADMIN = "admin-secret"
ERROR_FIELDS = {"message", "type", "param", "code"}


@dataclass
class World:
    """One running proxy, how to read its rejection counts, and (keys mode) how to make keys."""

    server: RunningServer
    metrics: Callable[[], str]
    redis_url: str | None = None
    config_file: Path | None = None
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def key(self, name: str, *options: str) -> str:
        """A virtual key made with `routetax keys create` (once per name)."""
        if name not in self.keys:
            assert self.config_file is not None
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                assert (
                    routetax(["keys", "--config", str(self.config_file), "create", "--name", name, *options, "--json"])
                    == 0
                )
            self.keys[name] = json.loads(out.getvalue())["key"]
        return self.keys[name]


def _scrape(url: str, token: str | None = None) -> Callable[[], str]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return lambda: httpx.get(f"{url}/metrics", headers=headers).raise_for_status().text


@pytest.fixture(scope="module")
def worlds(
    tmp_path_factory: pytest.TempPathFactory, module_serve_in_thread: Servers, module_redis_server: RedisServer
) -> Iterator[dict[str, World]]:
    tmp = tmp_path_factory.mktemp("refusals")
    emulator = module_serve_in_thread(build_emulator(seed=1), name="emulator")

    def serve(config: dict) -> RunningServer:
        from router.app import create_app

        app = create_app(Config.model_validate(config))
        server = module_serve_in_thread(app, name="proxy")
        server.app = app  # type: ignore[attr-defined]
        return server

    with pytest.MonkeyPatch.context() as env:
        env.delenv("ROUTETAX_METRICS_TOKEN", raising=False)
        base = demo_config(emulator.url).model_dump()

        open_config = {**base, "server": {"header_timeout_s": 1.0, "body_timeout_s": 1.0, "max_body_bytes": 64 * 1024}}
        open_config["tiers"]["nano"]["responses"] = False  # nano alone cannot serve /v1/responses
        open_proxy = serve(open_config)
        opened = World(open_proxy, _scrape(open_proxy.url))

        env.delenv("ROUTETAX_ADMIN_KEY", raising=False)  # read when the app is built
        dead_store = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
        bare_config = {**base, "store": {"redis_url": dead_store, "spool_dir": str(tmp / "bare")}}
        bare = serve({**bare_config, "auth": {"mode": "keys"}})
        rendered = lambda: bare.app.app.state.metering.render_metrics()[0].decode()  # noqa: E731

        env.setenv("ROUTETAX_ADMIN_KEY", ADMIN)
        store_url = module_redis_server.url
        keys_config = {**base, "store": {"redis_url": store_url, "spool_dir": str(tmp / "keys")}}
        keys_proxy = serve({**keys_config, "auth": {"mode": "keys", "cache_s": 0.5}})
        config_file = tmp / "routetax.yaml"
        config_file.write_text(f"store: {{redis_url: '{store_url}'}}\n")
        keyed = World(keys_proxy, _scrape(keys_proxy.url, ADMIN), store_url, config_file)

        yield {"open": opened, "bare": World(bare, rendered), "keys": keyed}


# -- how each refusal is provoked ------------------------------------------------------------------------------


def _raw(url: str, payload: bytes, wait_s: float = 10.0) -> httpx.Response:
    """Send bytes that httpx would not send, and read the answer up to the server's close."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait_s) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines]
    return httpx.Response(int(status_line.split(" ")[1]), headers=headers, content=body)


def chat(world: World, body: object = None, *, key: str | None = None, **headers: str) -> httpx.Response:
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    content = body if isinstance(body, bytes) else None
    payload = None if content is not None else (body or {"model": "nano", "messages": HELLO})
    return httpx.post(f"{world.url}/v1/chat/completions", json=payload, content=content, headers=headers, timeout=20)


def responses(world: World, body: dict, **headers: str) -> httpx.Response:
    return httpx.post(f"{world.url}/v1/responses", json=body, headers=headers, timeout=20)


def admin(world: World, path: str, token: str | None = None, **params: str) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{world.url}{path}", params=params, headers=headers)


def typed_parameter(world: World, monkeypatch: pytest.MonkeyPatch) -> httpx.Response:
    """No management endpoint has a parameter FastAPI can reject today: add one, as the next one will be."""

    async def typed(count: int) -> dict:
        return {"count": count}

    router = world.server.app.app.router
    monkeypatch.setattr(router, "routes", [*router.routes, APIRoute("/_typed", typed)])
    return admin(world, "/_typed", count="many")


def broken_hot_route(world: World, monkeypatch: pytest.MonkeyPatch) -> httpx.Response:
    class Broken:
        async def handle(self, *_: object) -> None:
            raise RuntimeError("a bug")

    monkeypatch.setattr(world.server.app, "proxy", Broken())
    return chat(world)


def broken_management_route(world: World, monkeypatch: pytest.MonkeyPatch) -> httpx.Response:
    async def boom(*_: object, **__: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("router.app.report_from_store", boom)
    return admin(world, "/v1/routing-tax")


def rate_limited(world: World, _: pytest.MonkeyPatch) -> httpx.Response:
    key = world.key("one-a-minute", "--rpm", "1")
    assert chat(world, key=key).status_code == 200
    return chat(world, key=key)


def budget_held(world: World, _: pytest.MonkeyPatch) -> httpx.Response:
    secret = world.key("busy", "--budget-usd", "0.002")
    key_id = redis.Redis.from_url(world.redis_url or "").hget(HASH_INDEX, hash_key(secret))
    key = VirtualKey(id=key_id.decode(), name="busy", budget_usd=0.002)

    async def hold() -> None:  # a request in flight on another replica holds most of the budget
        client = redis.asyncio.Redis.from_url(world.redis_url or "")
        await KeyStore(client).admit(key, 0.0019, "in-flight", hold_s=30)
        await client.aclose()

    asyncio.run(hold())
    return chat(world, CAPPED_MINI, key=secret, **{"x-routetax-fallback": "off"})


def store_full(world: World, _: pytest.MonkeyPatch) -> httpx.Response:
    key = world.key("capped", "--budget-usd", "5")
    control = redis.Redis.from_url(world.redis_url or "")
    control.config_set("maxmemory", "1")  # reads still work, every write is refused: the budget cannot be held
    try:
        return chat(world, key=key)
    finally:
        control.config_set("maxmemory", "0")


def every_breaker_open(world: World, monkeypatch: pytest.MonkeyPatch) -> httpx.Response:
    breaker = world.server.app.proxy.breakers["mini"]
    monkeypatch.setattr(breaker, "opened_until", 0.0)  # restored after the test: the breaker closes again
    monkeypatch.setattr(breaker, "state", breaker.state)
    breaker.force_open(time.monotonic() + 30)
    return chat(world, {"model": "mini", "messages": HELLO}, **{"x-routetax-fallback": "off"})


def nowhere_to_record(world: World, monkeypatch: pytest.MonkeyPatch) -> httpx.Response:
    """Redis down and the spool without its reserve (tests/test_nothing_lost_or_refused.py makes it for real)."""
    ledger = world.server.app.proxy.metering.ledger
    monkeypatch.setattr(type(ledger), "accepting", property(lambda _self: False))
    return chat(world)


def embeddings_off(world: World, monkeypatch: pytest.MonkeyPatch) -> httpx.Response:
    monkeypatch.setattr(Config, "embeddings_tier", lambda _self: None)
    body = {"model": "text-embedding-3-small", "input": "hi"}
    return httpx.post(f"{world.url}/v1/embeddings", json=body, timeout=20)


RETRY_AFTER = (("retry-after", None),)
# A body announced at 100 bytes of which one arrives: the rest never comes (a client trickling it)
TRICKLED_BODY = (
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"
)


@dataclass(frozen=True)
class Row:
    refusal: Refusal
    world: str
    provoke: Callable[[World, pytest.MonkeyPatch], httpx.Response]
    headers: tuple[tuple[str, str | None], ...] = ()  # headers the answer must carry (None: any value)
    name: str = ""


ROWS = [
    # the request itself
    Row(Refusal.INVALID_JSON, "open", lambda w, _: chat(w, b"{oops")),
    Row(Refusal.INVALID_TYPE, "open", lambda w, _: chat(w, {"model": "auto", "messages": "hi"})),
    Row(Refusal.INVALID_VALUE, "open", lambda w, _: admin(w, "/v1/routing-tax", window="2h")),
    Row(Refusal.MISSING_REQUIRED_PARAMETER, "open", lambda w, _: chat(w, {"messages": HELLO})),
    Row(Refusal.INVALID_HEADER, "open", lambda w, _: chat(w, **{"x-routetax-deadline-ms": "soon"})),
    Row(Refusal.INVALID_HTTP, "open", lambda w, _: _raw(w.url, b"\x16\x03\x01 not http\r\n\r\n")),
    Row(Refusal.INVALID_REQUEST, "open", typed_parameter),
    Row(Refusal.BODY_TOO_LARGE, "open", lambda w, _: chat(w, b"x" * (65 * 1024))),
    Row(
        Refusal.HEADERS_TOO_LARGE,
        "open",
        lambda w, _: _raw(w.url, b"GET /healthz HTTP/1.1\r\n" + b"x-h: v\r\n" * 200 + b"\r\n"),
    ),
    Row(Refusal.HEADER_TIMEOUT, "open", lambda w, _: _raw(w.url, b"GET /healthz HTTP/1.1\r\nx-partial: still typ")),
    Row(Refusal.BODY_TIMEOUT, "open", lambda w, _: _raw(w.url, TRICKLED_BODY)),
    Row(Refusal.UNKNOWN_URL, "open", lambda w, _: admin(w, "/v1/nope")),
    Row(
        Refusal.METHOD_NOT_ALLOWED, "open", lambda w, _: admin(w, "/v1/chat/completions"), headers=(("allow", "POST"),)
    ),
    # what it names
    Row(Refusal.MODEL_NOT_FOUND, "open", lambda w, _: chat(w, {"model": "gpt-9", "messages": HELLO})),
    Row(
        Refusal.PREVIOUS_RESPONSE_NOT_FOUND,
        "open",
        lambda w, _: responses(w, {"model": "mini", "input": "hi", "previous_response_id": "resp_nope"}),
    ),
    Row(Refusal.RESPONSE_NOT_FOUND, "open", lambda w, _: admin(w, "/v1/responses/resp_nope")),
    Row(
        Refusal.REQUEST_NOT_FOUND,
        "open",
        lambda w, _: httpx.post(f"{w.url}/v1/feedback", json={"request_id": "nope", "success": True}),
    ),
    Row(
        Refusal.TASK_NOT_FOUND,
        "open",
        lambda w, _: httpx.post(f"{w.url}/v1/feedback", json={"task": "nope", "success": True}),
    ),
    Row(
        Refusal.RESPONSES_NOT_SUPPORTED,
        "open",
        lambda w, _: responses(w, {"model": "nano", "input": "hi"}, **{"x-routetax-fallback": "off"}),
    ),
    # who asks
    Row(Refusal.MISSING_API_KEY, "keys", lambda w, _: chat(w)),
    Row(Refusal.INVALID_API_KEY, "keys", lambda w, _: chat(w, key="rt-" + "0" * 32)),
    Row(Refusal.INVALID_ADMIN_KEY, "keys", lambda w, _: admin(w, "/v1/routing-tax", "not-the-admin-key")),
    Row(Refusal.INVALID_METRICS_TOKEN, "keys", lambda w, _: admin(w, "/metrics", "not-the-token")),
    Row(Refusal.ADMIN_KEY_NOT_CONFIGURED, "bare", lambda w, _: admin(w, "/v1/routing-tax", "anything")),
    Row(Refusal.METRICS_TOKEN_NOT_CONFIGURED, "bare", lambda w, _: admin(w, "/metrics", "anything")),
    Row(
        Refusal.TIER_NOT_ALLOWED,
        "keys",
        lambda w, _: chat(w, {"model": "mini", "messages": HELLO}, key=w.key("nano-only", "--tiers", "nano")),
    ),
    # limits and availability
    Row(
        Refusal.BUDGET_EXCEEDED,
        "keys",
        lambda w, _: chat(w, key=w.key("penniless", "--budget-usd", "0")),
        headers=RETRY_AFTER,
    ),
    Row(Refusal.BUDGET_HELD, "keys", budget_held, headers=RETRY_AFTER),
    Row(  # no output cap: the model's output limit on every tier of the plan
        Refusal.REQUEST_OVER_BUDGET, "keys", lambda w, _: chat(w, key=w.key("cent", "--budget-usd", "0.01"))
    ),
    Row(Refusal.REQUEST_TOO_LARGE, "keys", lambda w, _: chat(w, key=w.key("sip", "--tpm", "1000"))),
    Row(Refusal.RATE_LIMIT_EXCEEDED, "keys", rate_limited, headers=RETRY_AFTER),
    Row(Refusal.KEY_STORE_UNAVAILABLE, "bare", lambda w, _: chat(w, key="rt-" + "1" * 32), headers=RETRY_AFTER),
    Row(Refusal.LIMIT_STORE_UNAVAILABLE, "keys", store_full, headers=RETRY_AFTER),
    Row(Refusal.LEDGER_UNAVAILABLE, "open", nowhere_to_record, headers=RETRY_AFTER),
    Row(Refusal.NO_TIER_AVAILABLE, "open", every_breaker_open, headers=RETRY_AFTER),
    Row(Refusal.EMBEDDINGS_NOT_CONFIGURED, "open", embeddings_off),
    Row(Refusal.INTERNAL_ERROR, "open", broken_hot_route, name="hot_route"),
    Row(Refusal.INTERNAL_ERROR, "open", broken_management_route, name="management"),
]


def counted(metrics: str, status: int, code: str) -> float:
    found = re.search(rf'^routetax_rejections_total{{reason="{code}",status="{status}"}} (\S+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.refusal.code + (f"-{row.name}" if row.name else ""))
def test_every_refusal_is_answered_in_openais_shape_and_counted_once(
    row: Row, worlds: dict[str, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, refusal = worlds[row.world], row.refusal
    before = counted(world.metrics(), refusal.status, refusal.code)
    answered = row.provoke(world, monkeypatch)
    assert answered.status_code == refusal.status, answered.text
    assert answered.headers["content-type"] == "application/json"
    error = answered.json()["error"]
    assert set(error) == ERROR_FIELDS and error["code"] == refusal.code and error["type"] == refusal.error_type
    assert isinstance(error["message"], str) and error["message"]
    assert answered.headers.get("x-should-retry") == ("false" if refusal.final else None)
    for name, value in row.headers:
        assert name in answered.headers and value in (None, answered.headers[name]), name
    assert counted(world.metrics(), refusal.status, refusal.code) == before + 1


def test_every_refusal_has_a_row() -> None:
    covered = {row.refusal for row in ROWS}
    assert set(Refusal) - covered == set()


@pytest.mark.parametrize("where", ["model", "request_id", "task"])
def test_a_huge_value_is_not_echoed_whole_in_a_refusal(where: str, worlds: dict[str, World]) -> None:
    world, huge = worlds["open"], "m" * 60_000  # under the world's 64 KiB body limit
    if where == "model":
        answered = chat(world, {"model": huge, "messages": HELLO})
    else:
        answered = httpx.post(f"{world.url}/v1/feedback", json={where: huge, "success": True}, timeout=20)
    assert answered.status_code == 404
    message = answered.json()["error"]["message"]
    assert len(answered.content) < 1000 and "mmmm" in message and "(60000 characters)" in message
