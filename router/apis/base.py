"""What every API adapter provides (`Adapter`), with the defaults chat-like APIs share."""

from __future__ import annotations

from typing import Any, Literal

import orjson

from router.config import Tier
from router.dialects import Dialect
from router.errors import ProxyError, Refusal
from router.keys import VirtualKey
from router.sse import StreamState
from router.tasks.answer import AnswerAtoms

Api = Literal["chat", "responses", "embeddings"]


def sized(data: bytes) -> bytes:
    """`data` in a block of its own size. orjson returns its bytes in the buffer it wrote them into, 4 KB for a
    150-byte body and about ten times the length of a large one; a request's payload is kept for its stream's
    life (`Exchange.payloads`, the upstream request), so at 1,000 open streams that was 4 MB of RSS for nothing."""
    return bytes(memoryview(data))


class Adapter:
    """The per-API parts of the request path. Subclasses override what their API changes."""

    name: Api
    upstream_path: str  # appended to the tier's base URL
    label: str | None = None  # None: classified; else the label recorded for an API served as asked

    def validate(self, body: dict[str, Any]) -> None:
        """Raise a `ProxyError` for a body routing cannot handle."""

    def passthrough_tier(self, body: dict[str, Any]) -> str | None:
        """None: classify and route the request. A tier name: send it there as asked, unclassified."""
        return None

    def upstream_model(self, body: dict[str, Any], tier: Tier) -> str:
        """The model the upstream is asked for (and the attempt is priced at): the tier's."""
        return tier.model

    def serves(self, tier: Tier) -> bool:
        """Can this tier serve this API at all?"""
        return True

    def forward_usage(self, body: dict[str, Any]) -> bool:
        """A streamed answer: did the client ask for the usage chunk (the router always asks for it)?"""
        return False

    async def route(
        self, body: dict[str, Any], plan: list[str], key: VirtualKey | None, pinned: bool
    ) -> tuple[list[str], bool]:
        """The plan this API can serve from the policy's (and whether it is pinned); may refuse."""
        return plan, pinned

    def payload(self, body: dict[str, Any], tier: Tier, dialect: Dialect, stream: bool) -> bytes:
        """The bytes sent to `tier`: the client's body with `model` naming the tier's model, in its dialect."""
        forwarded = dict(body)
        forwarded["model"] = tier.model
        dialect.adjust_request(forwarded, api=self.name, stream=stream)
        try:
            return sized(orjson.dumps(forwarded))
        except orjson.JSONEncodeError as exc:  # JSON nested deeper than 255 levels parses but cannot be re-sent
            raise ProxyError(Refusal.INVALID_JSON, f"The request body cannot be forwarded: {exc}.") from None

    def degraded(self, body: dict[str, Any], content: bytes) -> tuple[str | None, Any]:
        """Why a 2xx JSON answer cannot be used (then the next tier redoes it), or None — with the answer's JSON
        when the check parsed it (else None), so that filing it for its task's next step does not parse it again.
        An API whose answers are not checked parses nothing (an embeddings answer is large)."""
        return None, None

    def stream_degraded(self, body: dict[str, Any], state: StreamState, whole: bool) -> str | None:
        """Why a finished stream's answer cannot be used, or None. `whole`: every event is still in `state.events`
        (nothing was sent yet); else the stream was relayed and only what outlived the fold can be checked."""
        return None

    def first_visible(self, events: list[bytes], tier: str, key_id: str | None) -> str | None:
        """Among a stream's first events: "text", "tool_calls" or None (nothing the client would see yet)."""
        return "text" if events else None

    def answered(self, content: bytes, tier: str, key_id: str | None) -> None:
        """A JSON answer is about to reach the client (the Responses API remembers who owns it)."""

    def answer_atoms(self, content: bytes, parsed: Any = None) -> AnswerAtoms | None:
        """A usable JSON answer as task identity files it (None: this API's answers are not task steps).
        `parsed`: its JSON as `degraded` parsed it (None: parse `content`)."""
        return None

    def stream_answer_atoms(self, state: StreamState) -> AnswerAtoms | None:
        """A usable stream's answer as task identity files it, from what the relay kept."""
        return None

    def ends_with_done(self) -> bool:
        """Does the client's SDK wait for `data: [DONE]` at the end of a stream?"""
        return False
