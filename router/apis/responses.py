"""`POST /v1/responses`: classified and routed among tiers that serve it; a continuation goes to its owner.

A stored response lives at the tier that created it, so `previous_response_id` pins the request
to that tier — and only for the key that created it (another key's id is answered like an
unknown one, so ids reveal nothing).
"""

from __future__ import annotations

from typing import Any

import orjson

from router.apis.base import Adapter, Api
from router.config import Config, Tier
from router.errors import ProxyError, Refusal, echo
from router.keys import VirtualKey
from router.response_owners import ResponseOwners, response_id_of
from router.serving.answers import event_type, response_degraded
from router.sse import StreamState, parse_event
from router.tasks.answer import AnswerAtoms, from_response, from_responses_json
from router.validation import validate_responses


class ResponsesApi(Adapter):
    name: Api = "responses"
    upstream_path = "/responses"

    def __init__(self, config: Config, owners: ResponseOwners) -> None:
        self.config = config
        self.owners = owners  # replaced by the store-backed owners when replicas share a store

    def validate(self, body: dict[str, Any]) -> None:
        validate_responses(body)

    def serves(self, tier: Tier) -> bool:
        return tier.serves_responses()

    async def route(
        self, body: dict[str, Any], plan: list[str], key: VirtualKey | None, pinned: bool
    ) -> tuple[list[str], bool]:
        previous = body.get("previous_response_id")
        if previous is not None:
            owner = await self.owner(previous, key)
            if owner is None:
                raise ProxyError(
                    Refusal.PREVIOUS_RESPONSE_NOT_FOUND,
                    f"Previous response with id '{echo(previous)}' not found.",
                    param="previous_response_id",
                )
            return [owner], True
        serving = [name for name in plan if self.serves(self.config.tiers[name])]
        if not serving:
            raise ProxyError(
                Refusal.RESPONSES_NOT_SUPPORTED,
                f"Tier `{plan[0]}` does not serve the Responses API and no tier of its fallback chain does; "
                "set `responses: true` on a tier that does, or use /v1/chat/completions.",
                param="model",
            )
        return serving, pinned

    async def owner(self, response_id: str, key: VirtualKey | None) -> str | None:
        """The tier holding a stored response, if `key` created it (open mode: anyone's); else None."""
        owner = await self.owners.get(response_id)
        if owner is None or owner[0] not in self.config.tiers:
            return None
        if key is not None and owner[1] != key.id:
            return None
        return owner[0]

    def degraded(self, body: dict[str, Any], content: bytes) -> tuple[str | None, Any]:
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError:
            return "unparseable", None
        return response_degraded(body, data), data

    def stream_degraded(self, body: dict[str, Any], state: StreamState, whole: bool) -> str | None:
        """The final event (`response.completed` / `.incomplete`) carries the whole response: check that."""
        final = state.usage_chunk or {}
        return response_degraded(body, final.get("response"))

    def first_visible(self, events: list[bytes], tier: str, key_id: str | None) -> str | None:
        """Note who owns the response from `response.created`; visible is the first delta that carries something.

        The items and parts announced before it (`output_item.added`, `content_part.added`) are held back
        with it, so an answer that turns out empty is redone before the client has seen any of it.
        """
        for event in events:
            kind = event_type(event)
            if kind == "response.created":
                response_id = ((parse_event(event) or {}).get("response") or {}).get("id")
                if isinstance(response_id, str):
                    self.owners.put(response_id, tier, key_id)
            elif kind is not None and kind.endswith(".delta"):
                delta = (parse_event(event) or {}).get("delta")
                if isinstance(delta, str) and delta:
                    return "tool_calls" if kind == "response.function_call_arguments.delta" else "text"
        return None

    def answered(self, content: bytes, tier: str, key_id: str | None) -> None:
        response_id = response_id_of(content)
        if response_id is not None:
            self.owners.put(response_id, tier, key_id)  # before the client can ask to continue it

    def answer_atoms(self, content: bytes, parsed: Any = None) -> AnswerAtoms | None:
        return from_responses_json(content) if parsed is None else from_response(parsed)

    def stream_answer_atoms(self, state: StreamState) -> AnswerAtoms | None:
        """The final event (`response.completed`) carries the whole response, output included."""
        return from_response((state.usage_chunk or {}).get("response"))
