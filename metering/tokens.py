"""Token counts without the network: o200k_base from the encodings litellm ships.

tiktoken downloads its encodings on first use, which a gateway without internet (and
every test here) cannot do. litellm's package carries tiktoken's cache files for
o200k_base and cl100k_base, so `TIKTOKEN_CACHE_DIR` is pointed there — found on disk,
without importing litellm — before the first encoding is loaded. Counts are used where
an upstream reported none (a stream cut short, a server without usage) and by the
emulator; records carrying them are marked `estimated`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger("routetax.tokens")

ENCODING = "o200k_base"
MESSAGE_OVERHEAD = 3  # per message, as OpenAI's chat format frames each one
NAME_OVERHEAD = 1  # a message's `name` costs one token more than its text
REPLY_PRIMING = 3  # every reply is primed with <|start|>assistant<|message|>


def bundled_cache_dir() -> Path | None:
    """Where litellm keeps tiktoken's cache files, if litellm is installed."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
    return path if path.is_dir() else None


@lru_cache(maxsize=1)
def _encoding() -> Any | None:
    cache = bundled_cache_dir()
    if cache is not None:
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(cache))
    try:
        import tiktoken

        return tiktoken.get_encoding(ENCODING)
    except Exception as exc:  # no encoding offline: fall back to a length estimate, once, loudly
        log.warning("tokenizer %s unavailable (%s); estimating tokens as characters / 4", ENCODING, exc)
        return None


def encode(text: str) -> list[int]:
    encoding = _encoding()
    if encoding is None:
        return list(range(max(1, len(text) // 4))) if text else []
    return encoding.encode(text, disallowed_special=())


def count_text(text: str) -> int:
    if not text:
        return 0
    encoding = _encoding()
    if encoding is None:
        return max(1, len(text) // 4)
    return len(encoding.encode(text, disallowed_special=()))


def _content_text(content: Any) -> str:
    """Text of a message's content: a string, or a list of parts (text parts counted, others skipped)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") if isinstance(part, dict) and isinstance(part.get("text"), str) else ""
            for part in content
        )
    return ""


def count_messages(messages: Any) -> int:
    """Prompt tokens of a chat message list, framed as OpenAI frames them."""
    if not isinstance(messages, list):
        return 0
    total = REPLY_PRIMING
    for message in messages:
        if not isinstance(message, dict):
            continue
        total += MESSAGE_OVERHEAD + count_text(str(message.get("role") or ""))
        total += count_text(_content_text(message.get("content")))
        name = message.get("name")
        if isinstance(name, str) and name:
            total += NAME_OVERHEAD + count_text(name)
        calls = message.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():  # anything else is no call (a malformed body)
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                total += count_text(str(function.get("name") or "")) + count_text(str(function.get("arguments") or ""))
    return total


def count_embedding_input(value: Any) -> int:
    """Tokens of an embeddings request's `input`: a string, strings, or token ids (a list, or lists of them).

    No framing is added: an embedding's prompt is exactly its input's tokens, and token ids count one each.
    """
    if isinstance(value, str):
        return count_text(value)
    if not isinstance(value, list):
        return 0
    total = 0
    for item in value:
        if isinstance(item, str):
            total += count_text(item)
        elif isinstance(item, list):
            total += len(item)
        else:  # a token id
            total += 1
    return total


def count_prompt(body: dict[str, Any], api: str = "chat") -> int:
    """Prompt tokens of a whole request body: messages (or Responses input) plus declared tools (framed as the
    model sees them, metering/tool_tokens.py); embeddings' input."""
    import orjson

    from metering.tool_tokens import count_tools

    if api == "embeddings":
        return count_embedding_input(body.get("input"))
    tool_tokens = count_tools(body.get("tools"), count_text)
    if api == "responses":
        value = body.get("input")
        items = [{"role": "user", "content": value}] if isinstance(value, str) else value
        if not isinstance(items, list):  # a malformed body ({"input": 5}): nothing to count
            items = []
        instructions = body.get("instructions")
        if isinstance(instructions, str):
            items = [{"role": "system", "content": instructions}, *(items or [])]
        text_items = [i for i in items if isinstance(i, dict) and "content" in i]
        other = [i for i in items if isinstance(i, dict) and "content" not in i]
        extra = count_text(orjson.dumps(other).decode()) if other else 0
        return count_messages(text_items) + extra + tool_tokens
    return count_messages(body.get("messages")) + tool_tokens
