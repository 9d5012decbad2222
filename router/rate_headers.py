"""A virtual key's own rate windows, in the `x-ratelimit-*` headers OpenAI sends.

Clients pace themselves on these headers (remaining requests and tokens, and when the window is
full again). Behind a virtual key the limits that bind a client are its key's, not the upstream
organisation's, so routetax answers with the key's windows and never relays the upstream's
(`router.serving.relay.relay_headers`). A key gets the trio of each limit it has: `rpm` → `-requests`,
`tpm` → `-tokens`.
"""

from __future__ import annotations

import math

from router.keys import GateAnswer, RateWindow

RATE_LIMIT_PREFIX = "x-ratelimit-"


def openai_duration(seconds: float) -> str:
    """A duration as OpenAI writes its resets (Go's format): `0s`, `59ms`, `1s`, `8.64s`, `6m0s`, `1h0m0s`.

    Rounded up to the millisecond, so a client that waits exactly this long never arrives early.
    """
    ms = max(0, math.ceil(round(seconds * 1000, 6)))
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, fraction = divmod(rest, 1000)
    text = f"{whole}.{fraction:03d}".rstrip("0") if fraction else str(whole)
    if hours:
        return f"{hours}h{minutes}m{text}s"
    if minutes:
        return f"{minutes}m{text}s"
    return f"{text}s"


def window_headers(unit: str, window: RateWindow) -> dict[str, str]:
    """One limit's trio: `x-ratelimit-{limit,remaining,reset}-{unit}`."""
    return {
        f"{RATE_LIMIT_PREFIX}limit-{unit}": str(window.limit),
        f"{RATE_LIMIT_PREFIX}remaining-{unit}": str(window.remaining),
        f"{RATE_LIMIT_PREFIX}reset-{unit}": openai_duration(window.reset_s),
    }


def key_rate_headers(answer: GateAnswer) -> dict[str, str]:
    """The headers for the windows the gate reported: only for the limits the key has (none: empty)."""
    headers: dict[str, str] = {}
    if answer.requests is not None:
        headers.update(window_headers("requests", answer.requests))
    if answer.tokens is not None:
        headers.update(window_headers("tokens", answer.tokens))
    return headers
