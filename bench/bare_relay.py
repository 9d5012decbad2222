"""The stack's floor for bench/streams.py's `bare` configuration: what uvicorn + aiohttp cost with nothing of routetax.

uvicorn with httptools on uvloop, one aiohttp session to the upstream (no connection limit), and for each
request: post its body upstream, then `readany()` -> ASGI `send` until the body ends. No routing,
validation, metering, SSE handling or records: the layers every event of routetax's relay passed through
before the upstream tap (router/upstream_tap.py), and nothing else.

Run: python bench/bare_relay.py LISTEN_PORT UPSTREAM_URL    (e.g. 8100 http://127.0.0.1:9000: the path is kept)
"""

from __future__ import annotations

import sys

import aiohttp
import uvicorn

UPSTREAM = sys.argv[2].rstrip("/") if len(sys.argv) > 2 else "http://127.0.0.1:9000"
session: aiohttp.ClientSession | None = None


async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    global session
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False)
            await send({"type": "lifespan.startup.complete"})
        assert session is not None
        await session.close()
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    assert session is not None
    async with session.post(
        UPSTREAM + scope["path"], data=body, headers={"content-type": "application/json"}
    ) as upstream:
        headers = [(b"content-type", upstream.headers.get("content-type", "application/json").encode())]
        await send({"type": "http.response.start", "status": upstream.status, "headers": headers})
        while chunk := await upstream.content.readany():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        backlog=4096,
    )
