"""What every driver shares: its session's base URL and the replies it queues for the server.

A session name carries the scenario and its label (`framework__scenario__label__task`), so the
label is fixed by the scenario's definition before anything is captured, never by the classifier.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Callable
from typing import Any

ROOT = os.environ.get("CAPTURE_URL", "http://127.0.0.1:8765")
FRAMEWORK = os.environ.get("CAPTURE_FRAMEWORK", "unknown")


def session(scenario: str, label: str, task: int) -> str:
    assert label in ("agentic", "single_turn")
    return f"{FRAMEWORK}__{scenario}__{label}__{task}"


def base_url(name: str) -> str:
    return f"{ROOT}/s/{name}/v1"


def queue(name: str, replies: list[Any]) -> None:
    request = urllib.request.Request(
        f"{ROOT}/control/{name}", data=json.dumps({"replies": replies}).encode(), method="POST"
    )
    urllib.request.urlopen(request, timeout=10).read()


def run(name: str, replies: list[Any], body: Callable[[str], Any]) -> None:
    """Run one scenario; a framework error is reported, not fatal: the requests it sent are kept."""
    queue(name, replies)
    try:
        body(base_url(name))
    except Exception as exc:  # noqa: BLE001 - a scenario that ends in an error still sent real requests
        print(f"{name}: {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr)


def offline_tokenizers() -> None:
    """Point tiktoken at the encodings litellm ships, for frameworks that count tokens (no download here)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("litellm")
    if spec and spec.origin:
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"))
