"""`POST /v1/chat/completions`: classified, routed, answers checked for degraded output."""

from __future__ import annotations

from typing import Any

from router.apis.base import Adapter, Api
from router.serving.answers import (
    broken_calls,
    chat_degraded,
    chat_visible,
    degraded_reason,
    parse_answer,
    streamed_chat_answer,
)
from router.sse import StreamState, streamed_text, streamed_tool_calls
from router.tasks.answer import AnswerAtoms, from_chat_answer, from_chat_json, from_chat_stream
from router.validation import validate_chat


class ChatApi(Adapter):
    name: Api = "chat"
    upstream_path = "/chat/completions"

    def validate(self, body: dict[str, Any]) -> None:
        validate_chat(body)

    def forward_usage(self, body: dict[str, Any]) -> bool:
        return (body.get("stream_options") or {}).get("include_usage") is True

    def degraded(self, body: dict[str, Any], content: bytes) -> tuple[str | None, Any]:
        data = parse_answer(content)
        return chat_degraded(body, data), data

    def stream_degraded(self, body: dict[str, Any], state: StreamState, whole: bool) -> str | None:
        if whole:  # the whole answer, as its JSON form would be checked
            return degraded_reason(body, streamed_chat_answer(state.events))
        # Relayed: its text was visible, so only its tool calls can still be broken — and only a request that
        # declared tools keeps them (`keep_calls`). No parse at all for the streams that carry none.
        if not state.keep_calls:
            return None
        events = [event for event in (*state.call_events, *state.events) if b'"tool_calls"' in event]
        return broken_calls(body, streamed_tool_calls(events)) if events else None

    def first_visible(self, events: list[bytes], tier: str, key_id: str | None) -> str | None:
        return chat_visible(events)

    def answer_atoms(self, content: bytes, parsed: Any = None) -> AnswerAtoms | None:
        return from_chat_json(content) if parsed is None else from_chat_answer(parsed)

    def stream_answer_atoms(self, state: StreamState) -> AnswerAtoms | None:
        text = list(state.answer_text or ())
        streamed_text(state.events, text)  # the events not folded yet
        calls = []
        if state.keep_calls:
            calls = streamed_tool_calls([e for e in (*state.call_events, *state.events) if b'"tool_calls"' in e])
        return from_chat_stream("".join(text), calls)

    def ends_with_done(self) -> bool:
        return True
