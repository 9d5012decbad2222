"""Dialects: how each kind of upstream strays from OpenAI's protocol, one module per kind.

A tier's `dialect:` (config) names one of `DIALECTS`; the proxy asks that module, and only that one,
what it needs to know about the upstream. The whole protocol is `Dialect` below: error bodies into
OpenAI's shape (with an engine's context overflow as `context_length_exceeded`, so the router moves to
a larger window), usage out of an answer (for the metering pipeline, which takes it as a plain
function: `metering` never imports `router`), whether the upstream serves `/v1/responses` when the
tier does not say, and what to add to the body sent upstream. Stream quirks: none today (every engine
here streams OpenAI's chunks and its usage chunk); one would join the protocol when an engine needs it.

How to add a dialect (say `tgi`):
  1. Write `router/dialects/tgi.py` with the five members of `Dialect`; `vllm.py` is the model.
     `common.coerce_error` does the shape work: a dialect only says how its engine reports a
     context overflow (an `Overflow` function, or `common.no_overflow`). Reuse `metering.usage.usage_from`
     unless the engine reports usage in a shape of its own.
  2. Register it: add the module to `DIALECTS` below. Config validation (`tiers.<name>.dialect`) reads
     this registry, so `dialect: tgi` is accepted from then on.
  3. Test it in tests/test_dialects.py with bodies the real engine sends.
  Optional: if a tier left at the default `openai` dialect should still recognise the engine's overflow,
  add its `overflow` to `openai.ENGINE_OVERFLOWS`; if the emulator should impersonate it, that is the
  emulator's own work (`emulator.app.EMULATED_DIALECTS`).
"""

from __future__ import annotations

from typing import Any, Protocol

from metering.record import Usage
from router.dialects import llamacpp, ollama, openai, vllm


class Dialect(Protocol):
    """What the proxy needs to know about one kind of upstream (each module in this package is one)."""

    name: str
    serves_responses: bool  # serves /v1/responses when the tier's `responses:` is not set

    def normalise_error(self, status: int, raw: bytes) -> bytes:
        """The upstream's error body in OpenAI's shape; an OpenAI-shaped body comes back as the same bytes."""
        ...

    def usage_from(self, data: Any) -> Usage | None:
        """Usage out of a parsed answer, usage chunk or Responses event; None when it carries none."""
        ...

    def adjust_request(self, body: dict[str, Any], *, api: str, stream: bool) -> None:
        """Add to the body sent upstream (the proxy's own copy) what this upstream must be asked for."""
        ...


DIALECTS: dict[str, Dialect] = {dialect.name: dialect for dialect in (openai, vllm, ollama, llamacpp)}


def dialect_names() -> list[str]:
    """The registered dialects, in registration order (for validation messages and choices)."""
    return list(DIALECTS)


def dialect_for(name: str) -> Dialect:
    """The dialect module registered under `name` (config validation guarantees it exists)."""
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"unknown dialect {name!r}; known: {', '.join(DIALECTS)}") from None


__all__ = ["DIALECTS", "Dialect", "dialect_for", "dialect_names"]
