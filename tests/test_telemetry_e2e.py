"""OpenTelemetry end to end: a real `routetax serve` exporting OTLP/HTTP into a receiver that decodes the protobuf.

The client (the openai SDK) sends a `traceparent`; the request span must be its child, each upstream attempt a
child of the request span, and the upstream must receive the attempt's context — so one trace runs from the
client through routetax into the provider. Off by default: without OTEL_* nothing is exported, and the SDK's
tracing and exporter modules are never imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from emulator.app import build_emulator
from router.servers import RunningServer
from tests.conftest import script
from tests.otlp_receiver import Point, Received, Span, receiver
from tests.redis_server import free_port
from tests.running import Processes, Servers
from tests.waiting import wait_until

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
HELLO = [{"role": "user", "content": "Say hello."}]
SERVER, CLIENT = 2, 3  # OTLP span kinds
ERROR = 2  # OTLP status code


@pytest.fixture
def emulator(serve_in_thread: Servers) -> RunningServer:
    return serve_in_thread(build_emulator(seed=1), name="emulator")


@pytest.fixture
def otlp(serve_in_thread: Servers) -> tuple[RunningServer, Received]:
    app, got = receiver()
    return serve_in_thread(app, name="otlp-receiver"), got


def _config(tmp_path: Path, upstream: str) -> Path:
    config = tmp_path / "routetax.yaml"
    config.write_text(
        "tiers:\n"
        f"  nano: {{model: gpt-5.4-nano, base_url: '{upstream}/v1'}}\n"
        f"  mini: {{model: gpt-5.4-mini, base_url: '{upstream}/v1'}}\n"
        "auth: {mode: open}\n"
        "embeddings: {tier: nano}\n"
    )
    return config


@pytest.fixture
def serve(
    tmp_path: Path, emulator: RunningServer, processes: Processes
) -> Iterator[Callable[[dict[str, str]], tuple[OpenAI, subprocess.Popen[bytes]]]]:
    """Start `routetax serve` with OTEL_* variables; the openai SDK pointed at it, and the process."""

    def start(otel_env: dict[str, str]) -> tuple[OpenAI, subprocess.Popen[bytes]]:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(otel_env)
        process = processes.start(
            [
                sys.executable,
                "-m",
                "cli",
                "serve",
                "--config",
                str(_config(tmp_path, emulator.url)),
                "--port",
                str(port),
            ],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

        def up() -> bool:
            assert process.poll() is None, "routetax serve exited"
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, "routetax serve to answer /healthz", timeout_s=60)
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=30)
        return client, process

    yield start


def _on(url: str) -> dict[str, str]:
    """OTLP/HTTP to the receiver, exported at once (short batch delay and metric interval)."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": url,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
        "OTEL_SERVICE_NAME": "routetax-under-test",
    }


def _trace(got: Received, trace_id: str, spans: int) -> list[Span]:
    return wait_until(
        lambda: (found := [s for s in got.spans_now() if s.trace_id == trace_id]) and len(found) >= spans and found,
        f"{spans} spans of trace {trace_id}",
    )


def _upstream_traceparents(emulator: RunningServer, path: str) -> list[str]:
    seen = httpx.get(f"{emulator.url}/_mock/headers").json()["requests"]
    return [dict((k.lower(), v) for k, v in r["headers"]).get("traceparent", "") for r in seen if r["path"] == path]


def test_one_trace_runs_from_the_client_through_routetax_into_the_upstream(
    serve: Callable, otlp: tuple[RunningServer, Received], emulator: RunningServer
) -> None:
    receiver_server, got = otlp
    client, _ = serve(_on(receiver_server.url))
    answer = client.chat.completions.with_raw_response.create(
        model="auto", messages=HELLO, extra_headers={"traceparent": TRACEPARENT}
    )
    request_id = answer.headers["x-routetax-request-id"]
    completion = answer.parse()

    spans = _trace(got, CLIENT_TRACE, 2)
    [request] = [s for s in spans if s.kind == SERVER]
    [attempt] = [s for s in spans if s.kind == CLIENT]
    assert request.parent_span_id == CLIENT_SPAN  # the client's span is the request's parent
    assert attempt.parent_span_id == request.span_id
    assert request.name == "chat auto" and attempt.name == "chat gpt-5.4-nano"
    assert request.resource["service.name"] == "routetax-under-test"
    assert request.start_ns <= attempt.start_ns <= attempt.end_ns <= request.end_ns

    # The upstream received the attempt's context: its spans would join the client's trace under the attempt.
    [sent] = _upstream_traceparents(emulator, "/v1/chat/completions")
    assert sent == f"00-{CLIENT_TRACE}-{attempt.span_id}-01"

    a = attempt.attributes
    assert a["gen_ai.operation.name"] == "chat" and a["openai.api.type"] == "chat_completions"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-5.4-nano" and a["gen_ai.response.model"] == completion.model
    assert a["gen_ai.response.id"] == completion.id
    assert a["gen_ai.usage.input_tokens"] == completion.usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens
    details = completion.usage.completion_tokens_details
    assert a["gen_ai.usage.reasoning.output_tokens"] == details.reasoning_tokens
    assert a["gen_ai.usage.cache_read.input_tokens"] == completion.usage.prompt_tokens_details.cached_tokens
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == emulator.port
    assert a["routetax.attempt.ended_by"] == "ok" and "error.type" not in a

    r = request.attributes
    assert r["gen_ai.request.model"] == "auto" and r["gen_ai.response.model"] == completion.model
    assert r["routetax.request_id"] == request_id
    assert r["routetax.class"] == "single_turn" and r["routetax.tier"] == "nano"
    assert 0 < r["routetax.class.confidence"] <= 1 and r["routetax.explored"] is False
    assert r["routetax.task.id"].startswith("task_") and r["routetax.retries"] == 0
    assert r["routetax.cost_usd"] == pytest.approx(float(answer.headers["x-routetax-cost-usd"]))
    assert r["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens
    assert r["http.response.status_code"] == 200


def test_a_retried_attempt_is_a_span_of_its_own_with_its_error_and_its_own_context_upstream(
    serve: Callable, otlp: tuple[RunningServer, Received], emulator: RunningServer
) -> None:
    receiver_server, got = otlp
    client, _ = serve(_on(receiver_server.url))
    script(emulator, "gpt-5.4-nano", outcomes=["500"])
    client.chat.completions.create(model="nano", messages=HELLO, extra_headers={"traceparent": TRACEPARENT})

    spans = _trace(got, CLIENT_TRACE, 3)
    [request] = [s for s in spans if s.kind == SERVER]
    failed, answered = sorted((s for s in spans if s.kind == CLIENT), key=lambda s: s.start_ns)
    assert failed.parent_span_id == answered.parent_span_id == request.span_id
    assert failed.attributes["error.type"] and failed.attributes["http.response.status_code"] == 500
    assert failed.attributes["routetax.attempt.ended_by"] == "retry" and failed.status_code == ERROR
    assert answered.attributes["routetax.attempt.ended_by"] == "ok" and "error.type" not in answered.attributes
    assert failed.end_ns <= answered.start_ns
    assert request.attributes["routetax.retries"] == 1
    assert _upstream_traceparents(emulator, "/v1/chat/completions") == [
        f"00-{CLIENT_TRACE}-{failed.span_id}-01",
        f"00-{CLIENT_TRACE}-{answered.span_id}-01",
    ]


def test_a_fallback_names_both_tiers_and_streams_carry_their_first_chunk_and_usage(
    serve: Callable, otlp: tuple[RunningServer, Received], emulator: RunningServer
) -> None:
    receiver_server, got = otlp
    client, _ = serve(_on(receiver_server.url))
    script(emulator, "gpt-5.4-nano", outcomes=["429_quota"])  # a quota 429 falls back at once
    chunks = list(
        client.chat.completions.create(
            model="nano", messages=HELLO, stream=True, extra_headers={"traceparent": TRACEPARENT}
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    spans = _trace(got, CLIENT_TRACE, 3)
    [request] = [s for s in spans if s.kind == SERVER]
    nano, mini = sorted((s for s in spans if s.kind == CLIENT), key=lambda s: s.start_ns)
    assert (nano.name, mini.name) == ("chat gpt-5.4-nano", "chat gpt-5.4-mini")
    assert nano.attributes["routetax.attempt.ended_by"] == "fallback" and nano.attributes["error.type"]
    assert request.attributes["routetax.tier_path"] == ["nano", "mini"]
    assert request.attributes["routetax.fallbacks"] == 1
    assert request.attributes["gen_ai.request.stream"] is True
    assert mini.attributes["gen_ai.request.stream"] is True
    assert 0 < mini.attributes["gen_ai.response.time_to_first_chunk"] < (mini.end_ns - mini.start_ns) / 1e9 + 1e-9
    assert mini.attributes["gen_ai.usage.output_tokens"] > 0  # from the stream's usage chunk
    assert mini.end_ns <= request.end_ns


def test_responses_and_embeddings_are_named_as_the_conventions_name_them(
    serve: Callable, otlp: tuple[RunningServer, Received]
) -> None:
    receiver_server, got = otlp
    client, _ = serve(_on(receiver_server.url))
    client.responses.create(model="mini", input="Say hello.", extra_headers={"traceparent": TRACEPARENT})
    other = "0af7651916cd43dd8448eb211c80319c"
    client.embeddings.create(
        model="text-embedding-3-small", input="hello", extra_headers={"traceparent": f"00-{other}-b7ad6b7169203331-01"}
    )
    responses = _trace(got, CLIENT_TRACE, 2)
    [request] = [s for s in responses if s.kind == SERVER]
    assert request.attributes["gen_ai.operation.name"] == "chat"
    assert request.attributes["openai.api.type"] == "responses"
    assert request.attributes["gen_ai.response.id"].startswith("resp")
    embedding = _trace(got, other, 2)
    [request] = [s for s in embedding if s.kind == SERVER]
    assert request.name == "embeddings text-embedding-3-small"
    assert request.attributes["gen_ai.operation.name"] == "embeddings" and "routetax.class" not in request.attributes


def _metric(got: Received, name: str, **attrs: object) -> list[Point]:
    return [p for p in got.points_now() if p.metric == name and all(p.attributes.get(k) == v for k, v in attrs.items())]


def test_genai_metrics_arrive_beside_prometheus(serve: Callable, otlp: tuple[RunningServer, Received]) -> None:
    receiver_server, got = otlp
    client, _ = serve(_on(receiver_server.url))
    answer = client.chat.completions.create(model="nano", messages=HELLO)
    list(client.chat.completions.create(model="nano", messages=HELLO, stream=True))
    try:
        client.chat.completions.create(model="no-such-model", messages=HELLO)
    except Exception:  # noqa: BLE001 - the 404 is what is measured
        pass

    def tokens() -> list[Point]:
        points = _metric(got, "gen_ai.client.token.usage", **{"gen_ai.request.model": "gpt-5.4-nano"})
        return points if {p.attributes["gen_ai.token.type"] for p in points} == {"input", "output"} else []

    points = wait_until(tokens, "gen_ai.client.token.usage for input and output")
    assert all(p.unit == "{token}" and p.attributes["gen_ai.provider.name"] == "openai" for p in points)
    assert any(p.count >= 1 and p.sum >= answer.usage.completion_tokens for p in points)
    served = wait_until(
        lambda: _metric(got, "gen_ai.server.request.duration", **{"gen_ai.request.model": "nano"}),
        "gen_ai.server.request.duration",
    )
    assert all(p.unit == "s" and p.sum > 0 for p in served)
    refused = wait_until(
        lambda: _metric(got, "gen_ai.server.request.duration", **{"error.type": "model_not_found"}),
        "the 404's duration",
    )
    assert all("gen_ai.request.model" not in p.attributes for p in refused)  # a model nobody serves: unbounded
    first = wait_until(lambda: _metric(got, "gen_ai.server.time_to_first_token"), "gen_ai.server.time_to_first_token")
    assert first[-1].count >= 1 and first[-1].sum > 0
    assert got.content_types == {"application/x-protobuf"}


def _stopped(process: subprocess.Popen[bytes]) -> str:
    """SIGTERM, wait for the exit (a running exporter would flush now), and the process's stderr."""
    process.terminate()
    _, err = process.communicate(timeout=30)
    return err.decode()


def test_disabled_sends_nothing_even_with_an_endpoint(
    serve: Callable, otlp: tuple[RunningServer, Received], emulator: RunningServer
) -> None:
    receiver_server, got = otlp
    client, process = serve({**_on(receiver_server.url), "OTEL_SDK_DISABLED": "true"})
    client.chat.completions.create(model="nano", messages=HELLO, extra_headers={"traceparent": TRACEPARENT})
    list(client.chat.completions.create(model="nano", messages=HELLO, stream=True))
    _stopped(process)
    assert got.posts == 0
    # Off, the client's own traceparent travels upstream as it came (see router/forwarded_headers.py).
    assert _upstream_traceparents(emulator, "/v1/chat/completions")[0] == TRACEPARENT


def test_an_unsupported_protocol_says_so_in_one_line_and_sends_nothing(
    serve: Callable, otlp: tuple[RunningServer, Received]
) -> None:
    receiver_server, got = otlp
    client, process = serve({**_on(receiver_server.url), "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    client.chat.completions.create(model="nano", messages=HELLO)
    err = _stopped(process)
    said = [json.loads(line) for line in err.splitlines() if "grpc" in line]  # the log is JSON lines
    assert len(said) == 2 and all(
        entry["level"] == "WARNING" and "not supported" in entry["msg"] and "http/protobuf" in entry["msg"]
        for entry in said
    ), err
    assert {entry["msg"].rsplit(": ", 1)[-1] for entry in said} == {"traces are off", "metrics are off"}
    assert got.posts == 0


def test_off_by_default_the_sdk_tracing_and_exporters_are_never_imported(processes: Processes, tmp_path: Path) -> None:
    """A proxy built and started with no OTEL_* variable: routetax's telemetry module, the SDK's tracing, the OTLP
    exporter and protobuf stay unimported (redis-py imports the SDK's metrics module on its own when installed)."""
    program = (
        "import asyncio, sys\n"
        "from demo.world import demo_config\n"
        "from router.app import create_app\n"
        "app = create_app(demo_config('http://127.0.0.1:9'))\n"
        "async def run():\n"
        "    async with app.router.lifespan_context(app):\n"
        "        pass\n"
        "asyncio.run(run())\n"
        "watched = ('router.telemetry.otel', 'opentelemetry.sdk.trace', 'opentelemetry.exporter', 'google.protobuf')\n"
        "print(sorted(m for m in sys.modules if m.startswith(watched)))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = processes.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
