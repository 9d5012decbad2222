"""The HTTP surface: the ASGI app, its endpoints, and what lives for the app's lifetime.

`create_app(config)` wires the pieces: upstream pools, the metering pipeline, the store. The
store has one owner, the app's lifespan: it opens it, hands it to every part that keeps state in
it (metering's ledger, the keys, the feedback, the report, what replicas share), and closes it
after all of them have stopped. The request path itself is in `router.serving`; this module only
routes and answers the small endpoints (models, health, readiness, metrics).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from metering.feedback import FeedbackStore
from metering.logs import output as log_output
from metering.pipeline import MeteringPipeline, RouterStages
from metering.record import Record
from metering.store import Store, open_store
from metering.tasks import TaskBook
from router import openapi
from router.affinity import CacheAffinity
from router.affinity_share import SharedAffinity
from router.auth import Gatekeeper
from router.auto_mode import AutoMode
from router.boundary import Boundary
from router.config import Config
from router.errors import ProxyError, Refusal, echo
from router.hot_routes import HotRoutes
from router.http_limits import guarded_protocol
from router.judge import TaskJudge, build_judge
from router.metering_settings import metering_settings
from router.report import WindowError, assumptions_for, report_from_store, report_window
from router.response_owners import ResponseOwners
from router.serving.breaker import CircuitBreaker
from router.serving.proxy import Proxy
from router.shared_state import SharedBreakers, SharedResponseOwners
from router.tasks import TaskIdentity, TaskIndex
from router.tasks.shared import SharedTasks
from router.telemetry import from_environment
from router.upstream import UpstreamPool

YOUNG_COLLECTION_THRESHOLD = 10_000  # new container objects between young collections (CPython's default: 700)

log = logging.getLogger("routetax")

_JSON = "application/json"
_READY_CACHE_S = 5.0


def _json(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=_JSON)


def create_app(config: Config, metering: MeteringPipeline | None = None) -> HotRoutes:
    """Build the proxy for `config`. `metering` defaults to the metering pipeline for the config."""
    metering = metering or MeteringPipeline(metering_settings(config))
    pool = UpstreamPool(config.tiers)
    breakers = {name: CircuitBreaker(**config.resilience.breaker.model_dump()) for name in config.tiers}
    owners = ResponseOwners(config.store.response_ttl_s)
    auto = AutoMode(
        enabled=config.policy.mode == "auto", assumptions=assumptions_for(config), **config.policy.auto.model_dump()
    )
    auto.mode = "mini_only" if config.policy.mode == "mini_only" else "dual"
    affinity = CacheAffinity(metering.prices, regions=metering.regions) if config.policy.cache_affinity else None
    gate = Gatekeeper(config, metering.prices, metering.metrics, metering.settings.embedding_prices)
    boundary = Boundary(metering.metrics)
    identity = None
    if config.tasks.enabled:
        identity = TaskIdentity(TaskIndex(config.tasks.max_entries, config.tasks.idle_s), config.tasks.machine_pace_s)
    telemetry = from_environment(config)  # None unless the OTEL_* variables turn OpenTelemetry on
    proxy = Proxy(config, pool, metering, breakers, owners, auto, affinity, gate, identity, telemetry)
    judge = build_judge(config, pool, metering, metering.metrics)  # None unless `tasks.judge` is configured
    if judge is not None:
        _connect_judge(judge, metering)
    metering.router_stages = RouterStages(
        settle_key=gate.settle,
        cache_loss=(lambda record: affinity.settle(record.conversation, record)) if affinity is not None else None,
        policy=_watch(auto, metering),
        final_exchange=judge.keep if judge is not None else None,
    )
    readiness = Readiness(config, pool, breakers)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The one store of this process (in-process and non-durable without a URL, said once at WARNING).
        store = app.state.store = open_store(config.store.redis_url, cluster=config.store.cluster)
        await pool.start()
        if telemetry is not None:  # its exporters' threads start here: in each worker, after the fork
            telemetry.start()
        if judge is not None:  # before the task book starts closing tasks
            await judge.start(store)
        await metering.start(store, durable=config.store.durable)
        gate.start(store)
        shared = shared_affinity = None
        if config.store.durable:  # replicas share open breakers and response owners through the store
            shared = SharedBreakers(store, breakers)
            shared.start()
            proxy.owners = SharedResponseOwners(store, config.store.response_ttl_s)
            if affinity is not None and not config.store.cluster:  # pub/sub: one channel on plain Redis
                shared_affinity = SharedAffinity(store, affinity)
                shared_affinity.start()
            if identity is not None:  # continuations written in the background, read on a local miss
                identity.shared = SharedTasks(store, identity.index)
        # Everything built so far (modules, the price map, the app) lives as long as the process: moving it
        # out of the collector's sight turns 90 ms full collections under load into a few ms (bench/loop_stalls.py).
        gc.freeze()
        # A stream waiting for its next event holds ~9 young objects (its coroutines, the read's future, the
        # loop's handle), replaced at every event; opening 1,000 streams adds ~300 long-lived objects each.
        # At the default threshold (700) that was 458 young collections, 41 middle and 3 full ones (97 ms
        # the longest) in one 13 s run at 1,000 streams: 0.75 s of collector time. At 10,000: 14, 1 and 0,
        # 51 ms in all (bench/streams.py with a gc.callbacks probe). Garbage cycles are still collected
        # young; they wait for 10,000 new objects instead of 700.
        gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
        summaries = asyncio.get_running_loop().create_task(_summarise_storms(proxy))
        try:
            yield
        finally:
            summaries.cancel()
            proxy.incidents.limited.flush()  # a storm's count not yet said is said before the process goes
            if shared is not None:
                await shared.aclose()
            if shared_affinity is not None:
                await shared_affinity.aclose()
            if identity is not None and identity.shared is not None:
                await identity.shared.aclose()
                identity.shared = None
            await gate.aclose()
            if judge is not None:  # before the pool (its calls) and metering (its records)
                await judge.aclose()
            await pool.aclose()
            await metering.aclose()
            if telemetry is not None:  # after metering: the last records' spans are ended
                await telemetry.aclose()
            await store.aclose()  # last: the ledger and the settlements have flushed into it
            await asyncio.to_thread(log_output.flush)  # the process may end by its signal next, skipping atexit

    app = FastAPI(title="routetax", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.config = config
    app.state.metering = metering
    app.state.auto = auto
    app.state.tasks = identity
    app.state.judge = judge

    # HotRoutes (router/hot_routes.py) answers POSTs to these three paths before FastAPI sees them, so these
    # handlers are not reached: the routes stay for the OpenAPI document (/openapi.json, which the fuzz
    # suite reads) and so that other methods on these paths get 405 rather than 404.
    @app.post("/v1/chat/completions", openapi_extra=openapi.body(openapi.CHAT))
    async def chat_completions(request: Request) -> Response:
        return await proxy.handle(request)

    @app.post("/v1/responses", openapi_extra=openapi.body(openapi.RESPONSES))
    async def responses(request: Request) -> Response:
        return await proxy.handle(request, api="responses")

    @app.post("/v1/embeddings", openapi_extra=openapi.body(openapi.EMBEDDINGS))
    async def embeddings(request: Request) -> Response:
        return await proxy.handle(request, api="embeddings")

    @app.get("/v1/responses/{response_id}")
    async def get_response(request: Request, response_id: str) -> Response:
        return await proxy.response_operation(request, "GET", response_id)

    @app.delete("/v1/responses/{response_id}")
    async def delete_response(request: Request, response_id: str) -> Response:
        return await proxy.response_operation(request, "DELETE", response_id)

    @app.post("/v1/feedback", openapi_extra=openapi.body(openapi.FEEDBACK))
    async def feedback(request: Request) -> Response:
        admin = gate.is_admin(request.headers)
        key = None if admin else await gate.authenticate(request.headers)
        # Only the key that made the request (or the admin key) may judge it; open mode judges anything.
        owner = None if admin or gate.mode == "open" else (key.id if key is not None else "")
        return await submit_feedback(request, app.state.store, metering, auto, owner, judge)

    @app.get("/v1/routing-tax")
    async def routing_tax(
        request: Request, window: str = "1h", since: str | None = None, until: str | None = None
    ) -> Response:
        gate.check_admin(request.headers)
        try:
            asked = report_window(window, since, until, time.time())  # read as `routetax report` reads it
        except WindowError as exc:
            raise ProxyError(Refusal.INVALID_VALUE, str(exc), param=exc.param) from None
        report = await report_from_store(app.state.store, asked.since, asked.until, config)
        report["policy"] = {"mode": auto.mode, "configured": config.policy.mode, "switches": auto.switches}
        return _json(report)

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        key = await gate.authenticate(request.headers)
        created = int(time.time())
        data = [{"id": "auto", "object": "model", "created": created, "owned_by": "routetax"}]
        seen = set()
        for name, tier in config.tiers.items():
            if key is not None and not key.allows(name):
                continue  # a key sees only the tiers it may use
            if tier.model not in seen:
                seen.add(tier.model)
                data.append({"id": tier.model, "object": "model", "created": created, "owned_by": f"routetax:{name}"})
        return _json({"object": "list", "data": data})

    @app.get("/healthz")
    async def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> Response:
        report = await readiness.check(app.state.store)
        return _json(report, 200 if report["ready"] else 503)

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        gate.check_metrics(request.headers)
        for name, breaker in breakers.items():
            metering.metrics.breaker_open.labels(name).set(0 if breaker.state_name() == "closed" else 1)
        body, content_type = metering.render_metrics()
        return Response(body, media_type=content_type)

    boundary.install(app)  # FastAPI's exception handlers: every way a request is stopped, counted and OpenAI-shaped

    routes = HotRoutes(app, proxy, boundary)
    routes.http_protocol = guarded_protocol(config.server, boundary)
    return routes


async def _summarise_storms(proxy: Proxy) -> None:
    """Say a storm's count once its window is over, also when no line of its kind comes after it."""
    limited = proxy.incidents.limited
    while True:
        await asyncio.sleep(limited.window_s)
        limited.flush_due()


def _connect_judge(judge: TaskJudge, metering: MeteringPipeline) -> None:
    """The judge hears of the tasks this process's task book closes, and hands that book its grades.

    The other half is in `submit_feedback`: the application's word on a task is shown to the judge, which
    counts its agreement with the grade it gave (docs/task-records.md, the judge).
    """
    metering.add_closed_listener(judge.closed)
    judge.grades_to(lambda: metering.tasks)


def _watch(auto: AutoMode, metering: MeteringPipeline):  # noqa: ANN202
    """The pipeline's policy stage: feed the auto policy, refresh the routing-tax gauges after each evaluation."""

    def observe(record: Record) -> None:
        before, evaluated = len(auto.switches), auto.last_report
        auto.observe(record)
        if auto.last_report is not evaluated and auto.last_report is not None:
            metering.metrics.set_routing_tax(auto.last_report, auto.mode)
        for switch in auto.switches[before:]:
            metering.metrics.policy_switches.labels(switch["to"]).inc()

    return observe


async def submit_feedback(
    request: Request,
    store: Store,
    metering: MeteringPipeline,
    auto: AutoMode,
    owner: str | None = None,
    judge: TaskJudge | None = None,
) -> Response:
    """Record whether a task really succeeded, named by its id or by one of its requests' ids.

    `owner`: the key id whose tasks and requests may be judged ("" for keyless); None (admin, open mode) lets
    any be judged. Another key's task or request is answered exactly like an unknown one (404), so ids reveal
    nothing. Feedback on a task ends it (after a short grace for steps still in flight); a repeat is
    idempotent, and the last word wins. Per-request feedback is also kept for the routing-tax report.
    """
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise ProxyError(Refusal.INVALID_JSON, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ProxyError(Refusal.INVALID_TYPE, "The body must be a JSON object.")
    if "task" in body and "request_id" in body:
        message = "Name the task either by 'task' or by 'request_id', not both."
        raise ProxyError(Refusal.INVALID_VALUE, message, param="task")
    named_task = "task" in body
    if named_task and (not isinstance(body["task"], str) or not body["task"]):
        raise ProxyError(Refusal.INVALID_TYPE, "'task' must be a task id (a non-empty string).", param="task")
    if not named_task and not isinstance(body.get("request_id"), str):
        message = "'task' (the x-routetax-task header) or 'request_id' (the x-routetax-request-id header) is required."
        raise ProxyError(Refusal.INVALID_TYPE, message, param="request_id")
    if not isinstance(body.get("success"), bool):
        raise ProxyError(Refusal.INVALID_TYPE, "'success' must be true or false.", param="success")
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ProxyError(Refusal.INVALID_TYPE, "'reason' must be a string.", param="reason")
    key_id = body.get("key_id")
    if key_id is not None and (owner is not None or not isinstance(key_id, str)):
        message = "'key_id' is only for the admin key, naming whose task 'task' is."
        raise ProxyError(Refusal.INVALID_VALUE, message, param="key_id")
    tasks = metering.tasks or TaskBook(store, metering.settings.tasks)
    success = body["success"]
    if named_task:
        task_id = body["task"]
        task_key = (owner or None) if owner is not None else key_id
        if not (metering.knows_task(task_key, task_id) or await tasks.known(task_key, task_id)):
            message = f"No task with id '{echo(task_id)}' is in the ledger."
            raise ProxyError(Refusal.TASK_NOT_FOUND, message, param="task")
        await tasks.feedback(task_key, task_id, success, reason)
        if judge is not None:  # the judge's agreement with the application, where it graded the task
            await judge.feedback(task_key, task_id, success)
        return _json({"task": task_id, "success": success, "recorded": True})
    feedback = FeedbackStore(store)
    request_id = body["request_id"]
    remembered = metering.knows(request_id)  # recent here: its record may not have reached the ledger yet
    known = remembered or await feedback.known(request_id)
    request_key = task_id = None
    if known:
        if remembered:
            request_key, task_id = metering.key_of(request_id), metering.task_of(request_id)
        else:
            request_key, task_id = await feedback.step_of(request_id)
        if owner is not None:
            known = request_key == (owner or None)
    if not known:
        message = f"No request with id '{echo(request_id)}' is in the ledger."
        raise ProxyError(Refusal.REQUEST_NOT_FOUND, message, param="request_id")
    await feedback.put(request_id, success, reason)
    auto.feedback(request_id, success)
    if task_id is not None:
        await tasks.feedback(request_key, task_id, success, reason)
        if judge is not None:
            await judge.feedback(request_key, task_id, success)
    return _json({"request_id": request_id, "task": task_id, "success": success, "recorded": True})


class Readiness:
    """Ready = the store answers and at least one upstream answers HTTP at all.

    Upstream checks are cached for a few seconds so a probe every second does not turn
    into traffic to every provider.
    """

    def __init__(self, config: Config, pool: UpstreamPool, breakers: dict[str, CircuitBreaker]) -> None:
        self._config = config
        self._breakers = breakers
        self._pool = pool
        self._cached: tuple[float, dict[str, bool]] | None = None

    async def check(self, store: Store) -> dict[str, object]:
        store_ok = await _answers(store)
        upstreams = await self._upstreams()
        breakers = {name: breaker.state_name() for name, breaker in self._breakers.items()}
        serving = [name for name, ok in upstreams.items() if ok and breakers[name] != "open"]
        return {
            "ready": store_ok and bool(serving),
            "store": {"ok": store_ok, "durable": self._config.store.durable},
            "upstreams": upstreams,
            "breakers": breakers,
        }

    async def _upstreams(self) -> dict[str, bool]:
        now = time.monotonic()
        if self._cached and now - self._cached[0] < _READY_CACHE_S:
            return self._cached[1]
        names = list(self._config.tiers)
        results = await asyncio.gather(*(self._pool.probe(name) for name in names))
        status = dict(zip(names, results, strict=True))
        self._cached = (now, status)
        return status


async def _answers(store: Store) -> bool:
    try:
        return bool(await store.ping())
    except Exception:
        return False
