"""OpenTelemetry GenAI traces and metrics, off unless the standard `OTEL_*` variables turn them on (docs/telemetry.md).

This package's surface imports nothing of OpenTelemetry: `from_environment` reads the variables and imports
the SDK (`router.telemetry.otel`) only when a signal is on, so a deployment without OpenTelemetry pays neither
the import nor a check beyond `is None` per request. `Trace` is what the request path holds of a request's
telemetry while it is served.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from router.telemetry.attributes import TierFacts
from router.telemetry.settings import OtelSettings, Signal, settings_from

if TYPE_CHECKING:
    from metering.completion import Completion
    from metering.record import Record
    from router.config import Config

__all__ = ["OtelSettings", "Signal", "Telemetry", "Trace", "from_environment", "settings_from"]

log = logging.getLogger("routetax.telemetry")


class Trace(Protocol):
    """A request's telemetry on the request path (`router.telemetry.otel.RequestTrace`)."""

    def upstream_headers(self, headers: dict[str, str]) -> dict[str, str]: ...

    def first_event(self) -> None: ...


class Telemetry(Protocol):
    """The process's OpenTelemetry as the request path and the relay use it (`router.telemetry.otel.OtelTelemetry`)."""

    def begin(self, headers: Any, api: str) -> Any: ...

    def admitted(self, trace: Any, request_id: str) -> None: ...

    def refused(self, trace: Any, status: int, code: str) -> None: ...

    def finish(self, record: Record, completion: Completion) -> None: ...

    def start(self) -> None: ...

    async def aclose(self) -> None: ...


def from_environment(config: Config, env: Mapping[str, str] | None = None) -> Telemetry | None:
    """The process's OpenTelemetry when the environment turns it on, else None (and the SDK is never imported).

    What was asked for but is not supported is said here, once, in one WARNING line each.
    """
    settings = settings_from(os.environ if env is None else env)
    for line in settings.unsupported:
        log.warning("OpenTelemetry: %s", line)
    if not settings.enabled:
        return None
    from router.telemetry.otel import OtelTelemetry

    tiers = {name: TierFacts.of(tier.base_url, tier.dialect) for name, tier in config.tiers.items()}
    return OtelTelemetry(settings, tiers)
