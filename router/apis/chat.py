"""`POST /v1/chat/completions`: classified, routed, answers checked for degraded output."""

from __future__ import annotations

from typing import Any

from router.apis.base import Adapter, Api
from router.serving.answers import chat_visible, degraded_reason
from router.validation import validate_chat


class ChatApi(Adapter):
    name: Api = "chat"
    upstream_path = "/chat/completions"

    def validate(self, body: dict[str, Any]) -> None:
        validate_chat(body)

    def forward_usage(self, body: dict[str, Any]) -> bool:
        return (body.get("stream_options") or {}).get("include_usage") is True

    def degraded(self, body: dict[str, Any], content: bytes) -> str | None:
        return degraded_reason(body, content)

    def first_visible(self, events: list[bytes], tier: str, key_id: str | None) -> str | None:
        return chat_visible(events)

    def ends_with_done(self) -> bool:
        return True
