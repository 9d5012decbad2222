"""One error model: whatever routetax refuses is answered by one handler — OpenAI-shaped, with the request's
own headers, and counted in routetax_rejections_total — on the hot routes and on FastAPI's alike."""

from __future__ import annotations

import asyncio

import httpx

from demo.world import demo_config
from router.app import create_app
from router.servers import RunningServer

HELLO = [{"role": "user", "content": "hi"}]
UNKNOWN_MODEL = {
    "message": "The model `gpt-9` does not exist on this router. Use `auto`, a tier name or a tier's model.",
    "type": "invalid_request_error",
    "param": "model",
    "code": "model_not_found",
}


def rejections(status: int, reason: str) -> str:
    return f'routetax_rejections_total{{reason="{reason}",status="{status}"}} 1.0'


def test_a_refused_request_carries_its_id_and_overhead_and_is_counted(proxy: RunningServer) -> None:
    answered = httpx.post(f"{proxy.url}/v1/chat/completions", json={"model": "gpt-9", "messages": HELLO})
    assert answered.status_code == 404 and answered.json() == {"error": UNKNOWN_MODEL}
    assert len(answered.headers["x-routetax-request-id"]) == 32
    assert float(answered.headers["x-routetax-overhead-ms"]) >= 0
    metrics = httpx.get(f"{proxy.url}/metrics").text
    assert rejections(404, "model_not_found") in metrics


def test_the_hot_route_and_fastapis_route_answer_a_refusal_alike() -> None:
    routes = create_app(demo_config("http://127.0.0.1:9"))  # nothing is forwarded: the model is refused first

    async def ask(app: object) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://routetax") as client:
            return await client.post("/v1/responses", json={"model": "gpt-9", "input": "hi"})

    hot, routed = asyncio.run(ask(routes)), asyncio.run(ask(routes.app))  # routes.app: FastAPI's own stack
    for answered in (hot, routed):
        assert answered.status_code == 404 and answered.json() == {"error": UNKNOWN_MODEL}
        assert answered.headers["content-type"] == "application/json"
        assert {"x-routetax-request-id", "x-routetax-overhead-ms"} <= set(answered.headers)
    body, _ = routes.app.state.metering.render_metrics()
    assert 'routetax_rejections_total{reason="model_not_found",status="404"} 2.0' in body.decode()


def test_the_management_surface_refuses_the_same_way(proxy: RunningServer) -> None:
    url = proxy.url
    answers = {
        ("invalid_json", 400): httpx.post(f"{url}/v1/feedback", content=b"{oops"),
        ("invalid_type", 400): httpx.post(f"{url}/v1/feedback", json={"request_id": "x", "success": "yes"}),
        ("request_not_found", 404): httpx.post(f"{url}/v1/feedback", json={"request_id": "nope", "success": True}),
        ("invalid_value", 400): httpx.get(f"{url}/v1/routing-tax", params={"window": "2h"}),
        ("response_not_found", 404): httpx.get(f"{url}/v1/responses/resp_nope"),
    }
    metrics = httpx.get(f"{url}/metrics").text
    for (code, status), answered in answers.items():
        error = answered.json()["error"]
        assert answered.status_code == status and error["code"] == code and set(error) == set(UNKNOWN_MODEL)
        assert rejections(status, code) in metrics, code
    assert answers["invalid_value", 400].json()["error"]["param"] == "window"
    assert answers["request_not_found", 404].json()["error"]["param"] == "request_id"
    assert len(answers["response_not_found", 404].headers["x-routetax-request-id"]) == 32
