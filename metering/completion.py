"""What the upstreams sent back for one request, as the metering pipeline reads it.

The router fills a `Completion` while it serves a request (the 2xx JSON answers it relayed,
the state of the streams it relayed) and hands it to the pipeline with the finished record.
It is declared here, not in the router, because metering never imports the router: the
router's stream state (`router.sse.StreamState`) satisfies `RelayedStream` by its shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from metering.record import PriceEstimate, Usage


class RelayedStream(Protocol):
    """What the pipeline reads of a relayed SSE stream, to find or estimate its usage."""

    @property
    def usage_chunk(self) -> dict[str, Any] | None:
        """The chunk or event that carried `usage`, if the upstream sent one."""

    @property
    def events(self) -> Sequence[bytes]:
        """Events still kept (not yet folded into their text)."""

    @property
    def folded(self) -> Sequence[str]:
        """The text of the events already folded away."""

    @property
    def completion_tokens(self) -> int | None:
        """An estimate already made off the event loop (a long stream without usage), if any."""

    def text(self) -> str:
        """The text and tool-call arguments the client received."""


@dataclass(slots=True)
class Completion:
    """What the upstreams sent back, handed to metering with the record (parsed off the hot path)."""

    request: dict[str, Any]  # the client's body, for token estimates when usage is missing
    prompt_tokens: int | None = None  # the request's tokens, when routing already had to count them
    bodies: list[bytes | None] = field(default_factory=list)  # per attempt: its 2xx JSON answer, if any
    streams: list[RelayedStream | None] = field(default_factory=list)  # per attempt: what its stream carried
    # Per attempt, its JSON answer as the request path already parsed it (the degraded check reads every chat and
    # Responses answer), so that neither the cost on the answer nor the usage stage parses the same bytes again;
    # None where nothing parsed it (embeddings, streams, errors). May be shorter than `bodies` (the judge's calls).
    answers: list[Any] = field(default_factory=list)
    # Per attempt, the usage `quote` read from its answer and believed, for the usage stage to take as it is (the
    # same reader and the same limits would give the same usage); None where quote did not get that far.
    quoted: list[Usage | None] = field(default_factory=list)
    # Per attempt, what `quote` billed that usage at (`metering.cost.billed`: its total and estimate), for the price
    # stage to take as it is (the same usage at the same price gives the same figure); None where quote did not.
    priced: list[tuple[float, PriceEstimate | None] | None] = field(default_factory=list)

    def answer(self, index: int) -> Any:
        """Attempt `index`'s answer as the request path parsed it, or None (then parse `bodies[index]`)."""
        return self.answers[index] if index < len(self.answers) else None

    def quoted_usage(self, index: int) -> Usage | None:
        """The usage `quote` read and believed for attempt `index`, or None."""
        return self.quoted[index] if index < len(self.quoted) else None

    def quoted_price(self, index: int, usage: Usage) -> tuple[float, PriceEstimate | None] | None:
        """What `quote` billed attempt `index` at, if it priced this very usage (the one the usage stage took)."""
        if index < len(self.priced) and self.quoted[index] is usage:
            return self.priced[index]
        return None

    @property
    def stream(self) -> RelayedStream | None:
        """The stream of the final attempt (the one the client got)."""
        return self.streams[-1] if self.streams else None
