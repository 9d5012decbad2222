"""The request being handled, for every log line written while it is handled.

Intake begins a `RequestContext` (`begin`) in the request's own asyncio task; what the request path
learns later (its key, its task) is written into the same object, so a line logged anywhere below
(an attempt, the walker, metering, the ledger's submit) carries the request and task ids without being
passed them. A contextvar, not a global: concurrent requests each see their own, and tasks spawned while
serving a request (a stream's relay) inherit it. Background loops (the ledger writer, the judge) run in
contexts made before any request, so their lines carry none — which is the truth.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(slots=True)
class RequestContext:
    """What the log knows of the request in hand. `access_logged`: its access line has been written."""

    request_id: str
    task_id: str | None = None
    key_id: str | None = None  # the key's id (a hash), never the key
    access_logged: bool = False


_current: ContextVar[RequestContext | None] = ContextVar("routetax_request", default=None)


def begin(request_id: str) -> RequestContext:
    """Start handling a request in this task: every line from here on names it."""
    context = RequestContext(request_id)
    _current.set(context)
    return context


def current() -> RequestContext | None:
    """The request being handled in this task, or None (a background loop, a management endpoint)."""
    return _current.get()
