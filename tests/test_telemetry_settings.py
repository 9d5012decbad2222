"""Which OTEL_* environments turn OpenTelemetry on, and what is refused in one line (no OpenTelemetry import)."""

from __future__ import annotations

import pytest

from router.telemetry import Signal, settings_from
from router.telemetry.attributes import TierFacts

BOTH = frozenset(Signal)


@pytest.mark.parametrize(
    ("env", "signals"),
    [
        ({}, frozenset()),
        ({"OTEL_SERVICE_NAME": "gw", "OTEL_RESOURCE_ATTRIBUTES": "team=a"}, frozenset()),  # nothing to export to
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, BOTH),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, frozenset({Signal.TRACES})),
        ({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://c:4318/v1/metrics"}, frozenset({Signal.METRICS})),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, frozenset({Signal.TRACES})),  # the SDK's default endpoint
        ({"OTEL_TRACES_EXPORTER": "otlp_proto_http", "OTEL_METRICS_EXPORTER": "otlp"}, BOTH),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_METRICS_EXPORTER": "none"}, frozenset({Signal.TRACES})),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, frozenset()),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "false"}, BOTH),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, BOTH),
    ],
)
def test_signals_are_on_only_when_the_environment_names_an_exporter_or_an_endpoint(
    env: dict[str, str], signals: frozenset[Signal]
) -> None:
    settings = settings_from(env)
    assert settings.signals == signals and settings.unsupported == ()
    assert settings.enabled == bool(signals)


@pytest.mark.parametrize(
    ("env", "on", "said"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, set(), 2),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
            {Signal.METRICS},
            1,
        ),
        ({"OTEL_TRACES_EXPORTER": "zipkin", "OTEL_METRICS_EXPORTER": "otlp"}, {Signal.METRICS}, 1),
        ({"OTEL_TRACES_EXPORTER": "console"}, set(), 1),
        ({"OTEL_TRACES_EXPORTER": "otlp_proto_grpc"}, set(), 1),
    ],
)
def test_an_unsupported_exporter_or_protocol_turns_its_signal_off_and_says_so(
    env: dict[str, str], on: set[Signal], said: int
) -> None:
    settings = settings_from(env)
    assert settings.signals == on
    assert len(settings.unsupported) == said
    assert all("not supported" in line and "http/protobuf" in line for line in settings.unsupported)


def test_a_tiers_server_address_and_port_come_from_its_base_url() -> None:
    assert TierFacts.of("https://api.openai.com/v1", "openai") == TierFacts("openai", "api.openai.com", 443)
    assert TierFacts.of("http://10.0.0.5:8000/v1", "vllm") == TierFacts("vllm", "10.0.0.5", 8000)
