"""A minimal keep-alive HTTP/1.1 server answering every request with one fixed chat completion.

For benchmarks where the emulator itself could be the bottleneck: it does no parsing beyond
finding the end of each request, so what is measured is the client or the proxy in front.
A request whose body asks for `"stream": true` gets a fixed SSE stream instead: the first event
(already carrying content) at once, the other ten events and `[DONE]` STREAM_GAP_S later, so the
time to the first token and the time to the end differ as they do on a real upstream.
A JSON request that declares `"tools"` gets one call of the tool `run` instead, under a call id no other
answer of this process carried: an agent loop's next request echoes that id, as it would a real model's,
so two tool loops never send the same continuation (bench/tasks.py drives such loops).
Run: python bench/fixed_upstream.py PORT
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys

import orjson
import uvloop

BODY = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-5.4-nano",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 1,
            "total_tokens": 13,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }
)
RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


TOOL_CALL_ID = b"call_" + b"0" * 24  # replaced in every answer by a fresh id of the same length
TOOL_BODY = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-5.4-nano",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": TOOL_CALL_ID.decode(),
                            "type": "function",
                            "function": {"name": "run", "arguments": '{"cmd": "pytest -q"}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": orjson.loads(BODY)["usage"],
    }
)
TOOL_HEAD, TOOL_TAIL = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(TOOL_BODY)).encode()
    + b"\r\n\r\n"
    + TOOL_BODY
).split(TOOL_CALL_ID)
CALL_IDS = itertools.count(int.from_bytes(os.urandom(6), "big") << 40)  # distinct across restarts too


def tool_call_response() -> bytes:
    return TOOL_HEAD + b"call_" + b"%024x" % next(CALL_IDS) + TOOL_TAIL


STREAM_GAP_S = 0.002


def _chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
    chunk = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "gpt-5.4-nano"}
    chunk["choices"] = [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]
    if usage:
        chunk["usage"] = usage
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


STREAM_FIRST = _chunk({"role": "assistant", "content": "ok"})
STREAM_REST = (
    b"".join(_chunk({"content": f" w{i}"}) for i in range(8))
    + _chunk({}, finish="stop")
    + _chunk({}, usage=orjson.loads(BODY)["usage"])
    + b"data: [DONE]\n\n"
)
STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: "
    + str(len(STREAM_FIRST) + len(STREAM_REST)).encode()
    + b"\r\n\r\n"
)


class FixedProtocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            length = 0
            marker = head.find(b"content-length:")
            if marker >= 0:
                length = int(head[marker + 15 :].split(b"\r\n", 1)[0])
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            request_body, self.buffer = self.buffer[head_end + 4 : end], self.buffer[end:]
            if b'"stream":true' in request_body or b'"stream": true' in request_body:
                self.transport.write(STREAM_HEAD + STREAM_FIRST)  # type: ignore[attr-defined]
                asyncio.get_running_loop().call_later(STREAM_GAP_S, self._write_rest)
            elif b'"tools"' in request_body:
                self.transport.write(tool_call_response())  # type: ignore[attr-defined]
            else:
                self.transport.write(RESPONSE)  # type: ignore[attr-defined]

    def _write_rest(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(STREAM_REST)  # type: ignore[attr-defined]


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FixedProtocol, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1])))
