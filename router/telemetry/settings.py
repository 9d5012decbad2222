"""Whether OpenTelemetry is on, read from the standard `OTEL_*` environment variables — without importing it.

OpenTelemetry is off unless the environment asks for it, so a deployment that never heard of it pays nothing
(not even the import). A signal (traces, metrics) is on when its exporter is named `otlp`
(`OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER`), or, with the exporter unset, when an OTLP endpoint is given
(`OTEL_EXPORTER_OTLP_ENDPOINT`, or the signal's own `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`). `none` turns a signal off; `OTEL_SDK_DISABLED=true` turns both off.

routetax exports OTLP over HTTP with protobuf bodies and nothing else: another exporter (`console`, `zipkin`)
or protocol (`grpc`, `http/json`) is not half-honoured — that signal stays off and the start says so in one
line. The rest (endpoints, headers, timeouts, `OTEL_BSP_*`, `OTEL_METRIC_EXPORT_INTERVAL`, the resource, the
sampler, the propagators) is read by the OpenTelemetry SDK itself, as every SDK-based service reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

SUPPORTED_EXPORTER = "otlp"
# Python's own name for the same exporter (the opentelemetry-instrument launcher's entry point): read alike.
EXPORTER_ALIASES = frozenset({SUPPORTED_EXPORTER, "otlp_proto_http"})
SUPPORTED_PROTOCOL = "http/protobuf"


class Signal(StrEnum):
    """The OpenTelemetry signals routetax emits, by the name the `OTEL_*` variables use."""

    TRACES = "traces"
    METRICS = "metrics"


@dataclass(frozen=True, slots=True)
class OtelSettings:
    """Which signals are on, and what in the environment was asked for but is not supported (one line each)."""

    signals: frozenset[Signal] = frozenset()
    unsupported: tuple[str, ...] = field(default_factory=tuple)

    @property
    def enabled(self) -> bool:
        return bool(self.signals)


def _exporter(env: Mapping[str, str], signal: Signal) -> str | None:
    """The signal's exporter as asked (lower case; several: the first, since routetax runs one), or None."""
    value = env.get(f"OTEL_{signal.upper()}_EXPORTER", "").strip().lower()
    return value.split(",")[0].strip() or None


def _protocol(env: Mapping[str, str], signal: Signal) -> str:
    signal_protocol = env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL", "").strip()
    return (signal_protocol or env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip() or SUPPORTED_PROTOCOL).lower()


def settings_from(env: Mapping[str, str]) -> OtelSettings:
    """The OpenTelemetry settings of an environment (`os.environ`)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return OtelSettings()
    signals: set[Signal] = set()
    unsupported: list[str] = []
    for signal in Signal:
        exporter = _exporter(env, signal)
        endpoint = (
            env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
            or env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "").strip()
        )
        if exporter == "none" or (exporter is None and not endpoint):
            continue
        if exporter is not None and exporter not in EXPORTER_ALIASES:
            unsupported.append(
                f"OTEL_{signal.upper()}_EXPORTER={exporter} is not supported (routetax exports {signal} only as "
                f"{SUPPORTED_EXPORTER} over {SUPPORTED_PROTOCOL}): {signal} are off"
            )
            continue
        protocol = _protocol(env, signal)
        if protocol != SUPPORTED_PROTOCOL:
            unsupported.append(
                f"OTLP protocol {protocol} is not supported (routetax sends OTLP over {SUPPORTED_PROTOCOL}): "
                f"{signal} are off"
            )
            continue
        signals.add(signal)
    return OtelSettings(frozenset(signals), tuple(unsupported))
