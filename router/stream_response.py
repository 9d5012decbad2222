"""The response that relays an upstream SSE stream to the client, and stops when the client leaves.

Starlette's `StreamingResponse`, on servers that speak ASGI before 2.4 (uvicorn declares 2.3), runs
every stream inside an anyio task group: one more task, a cancel scope, and on the way out anyio
formats `repr(task)` into the cancel reason. Replacing it cut a streamed request's CPU in the proxy
by a fifth (0.53 -> 0.43 ms small, 0.51 -> 0.39 ms large prompts, concurrency 10, six alternating
turns each; throughput +22 % / +26 %). This response keeps the same contract —
the body is sent as it is produced, and a client disconnect cancels the producer at its next await
so the relay's `finally` closes the upstream and meters what was consumed — with one plain asyncio
task watching `receive()`.
"""

from __future__ import annotations

import asyncio

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send


class RelayResponse(StreamingResponse):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        relay = asyncio.current_task()
        assert relay is not None
        streaming, client_left = True, False

        async def watch_for_disconnect() -> None:
            nonlocal client_left
            while (await receive())["type"] != "http.disconnect":
                pass
            # `streaming` is only cleared with no await after the last send, so while it is set the relay
            # is suspended inside stream_response and the cancellation lands there, nowhere else.
            if streaming:
                client_left = True
                relay.cancel()

        watcher = asyncio.get_running_loop().create_task(watch_for_disconnect())
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            # Ours: the client is gone and the relay has cleaned up. Anyone else's (shutdown): let it through.
            if not client_left or relay.uncancel() > 0:
                raise
        finally:
            streaming = False
            watcher.cancel()
        if self.background is not None:
            await self.background()
