"""A capturing OpenAI-compatible server: records every request body an agent framework sends.

Why not the emulator: a framework run is only realistic when its loop really turns, so
replies are scripted per session (a tool call whose arguments satisfy the tool's JSON schema,
a ReAct step, a bash block, a final answer) and every body is written down exactly as sent.
Stdlib only, so it runs under any interpreter; loopback only.

Clients use `http://127.0.0.1:PORT/s/<session>/v1` as their base URL. The driver queues
replies for a session with `POST /control/<session>` (`{"replies": [...]}`); a reply is
`{"text": "..."}`, `{"tool": "name", "args": {...}}` (with `"else_text"` for a request that
offers no tools), or `"auto"` (the default when the queue
is empty: call the forced or first function tool once, then answer in text).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FINAL_TEXT = "Done. The answer is 42."


class Captures:
    """Bodies recorded per session, and the replies queued for each session."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.replies: dict[str, deque[Any]] = defaultdict(deque)
        self.counts: dict[str, int] = defaultdict(int)

    def record(self, session: str, api: str, path: str, body: Any, agent: str) -> None:
        with self.lock:
            self.counts[session] += 1
            line = {"session": session, "step": self.counts[session], "api": api, "path": path, "ua": agent}
            line["body"] = body
            with self.out.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")

    def next_reply(self, session: str) -> Any:
        with self.lock:
            queue = self.replies[session]
            return queue.popleft() if queue else "auto"


def example(schema: Any, defs: dict[str, Any], depth: int = 0) -> Any:
    """A minimal value valid for a JSON schema, so that frameworks' validators accept the tool call."""
    if not isinstance(schema, dict) or depth > 8:
        return "example"
    if "$ref" in schema:
        return example(defs.get(schema["$ref"].split("/")[-1], {}), defs, depth + 1)
    defs = {**defs, **schema.get("$defs", {}), **schema.get("definitions", {})}
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(key, []) if isinstance(o, dict) and o.get("type") != "null"]
        if options:
            return example(options[0], defs, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        return {k: example(v, defs, depth + 1) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [example(schema.get("items", {}), defs, depth + 1)]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    return "example"


def _function_tools(body: dict[str, Any], api: str) -> list[tuple[str, dict[str, Any]]]:
    tools = []
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        spec = tool.get("function") if api == "chat" else tool
        if isinstance(spec, dict) and (tool.get("type") == "function" or api == "chat"):
            tools.append((spec.get("name", "tool"), spec.get("parameters") or {}))
    for spec in body.get("functions") or []:
        tools.append((spec.get("name", "tool"), spec.get("parameters") or {}))
    return tools


def _has_tool_result(body: dict[str, Any], api: str) -> bool:
    if api == "chat":
        return any(isinstance(m, dict) and m.get("role") in ("tool", "function") for m in body.get("messages") or [])
    items = body.get("input")
    return isinstance(items, list) and any(
        isinstance(i, dict) and i.get("type") == "function_call_output" for i in items
    )


def _forced_name(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice") or body.get("function_call")
    if isinstance(choice, dict):
        return choice.get("name") or (choice.get("function") or {}).get("name")
    return None


def resolve(reply: Any, body: dict[str, Any], api: str) -> tuple[str, str | None, dict[str, Any] | None]:
    """(text, tool name, tool args) for a queued reply."""
    tools = _function_tools(body, api)
    if isinstance(reply, dict) and "tool" in reply and not tools and "else_text" in reply:
        return reply["else_text"], None, None  # a framework that speaks its protocol in text instead
    if isinstance(reply, dict) and "tool" in reply:
        name = reply["tool"]
        schema = next((s for n, s in tools if n == name), {})
        return "", name, reply.get("args", example(schema, {}))
    if isinstance(reply, dict):
        return reply.get("text", FINAL_TEXT), None, None
    forced = _forced_name(body)
    must = body.get("tool_choice") in ("required", "any")
    if tools and (forced or must or not _has_tool_result(body, api)) and body.get("tool_choice") != "none":
        name, schema = next(((n, s) for n, s in tools if n == forced), tools[0])
        return "", name, example(schema, {})
    return FINAL_TEXT, None, None


def chat_completion(body: dict[str, Any], text: str, tool: str | None, args: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if tool is not None:
        message["tool_calls"] = [
            {
                "id": f"call_{uuid.uuid4().hex[:20]}",
                "type": "function",
                "function": {"name": tool, "arguments": json.dumps(args)},
            }
        ]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:20]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "gpt-5.4-mini"),
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if tool else "stop", "logprobs": None}
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


def chat_chunks(completion: dict[str, Any]) -> list[dict[str, Any]]:
    choice = completion["choices"][0]
    message = choice["message"]
    base = {k: completion[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    chunks = [base | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    if message.get("content"):
        chunks.append(
            base | {"choices": [{"index": 0, "delta": {"content": message["content"]}, "finish_reason": None}]}
        )
    for index, call in enumerate(message.get("tool_calls") or []):
        delta = {"tool_calls": [{"index": index, "id": call["id"], "type": "function", "function": call["function"]}]}
        chunks.append(base | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    chunks.append(base | {"choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]})
    chunks.append(base | {"choices": [], "usage": completion["usage"]})
    return chunks


def response_object(body: dict[str, Any], text: str, tool: str | None, args: Any) -> dict[str, Any]:
    if tool is not None:
        output = [
            {
                "type": "function_call",
                "id": f"fc_{uuid.uuid4().hex[:20]}",
                "call_id": f"call_{uuid.uuid4().hex[:20]}",
                "name": tool,
                "arguments": json.dumps(args),
                "status": "completed",
            }
        ]
    else:
        output = [
            {
                "type": "message",
                "id": f"msg_{uuid.uuid4().hex[:20]}",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ]
    return {
        "id": f"resp_{uuid.uuid4().hex[:20]}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": body.get("model", "gpt-5.4-mini"),
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "usage": {
            "input_tokens": 100,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 20,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 120,
        },
    }


def response_events(response: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    created = response | {"status": "in_progress", "output": []}
    events = [("response.created", {"response": created}), ("response.in_progress", {"response": created})]
    for index, item in enumerate(response["output"]):
        events.append(("response.output_item.added", {"output_index": index, "item": item}))
        if item["type"] == "message":
            text = item["content"][0]["text"]
            part = {"item_id": item["id"], "output_index": index, "content_index": 0}
            events.append(("response.output_text.delta", part | {"delta": text}))
            events.append(("response.output_text.done", part | {"text": text}))
        events.append(("response.output_item.done", {"output_index": index, "item": item}))
    events.append(("response.completed", {"response": response}))
    return [(name, {"type": name, "sequence_number": n} | data) for n, (name, data) in enumerate(events)]


def make_handler(captures: Captures) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet: the captures are the log
            pass

        def _send(self, status: int, payload: Any) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _stream(self, events: list[tuple[str | None, dict[str, Any]]]) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            for name, data in events:
                prefix = f"event: {name}\n" if name else ""
                self.wfile.write(f"{prefix}data: {json.dumps(data)}\n\n".encode())
            if not events or events[-1][0] is None:
                self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

        def do_GET(self) -> None:  # /models and friends: some clients probe them
            if self.path.endswith("/models"):
                self._send(
                    200,
                    {
                        "object": "list",
                        "data": [{"id": "gpt-5.4-mini", "object": "model", "created": 0, "owned_by": "capture"}],
                    },
                )
            else:
                self._send(
                    404,
                    {"error": {"message": "not found", "type": "invalid_request_error", "code": None, "param": None}},
                )

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            parts = self.path.split("?")[0].strip("/").split("/")
            if parts[0] == "control":
                captures.replies[parts[1]].extend(json.loads(raw)["replies"])
                return self._send(200, {"queued": len(captures.replies[parts[1]])})
            session = parts[1] if parts[0] == "s" and len(parts) > 1 else "unknown"
            tail = parts[-1]
            api = {"completions": "chat", "responses": "responses"}.get(tail)
            if api is None:
                return self._send(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
            body = json.loads(raw)
            captures.record(session, api, self.path, body, self.headers.get("user-agent", ""))
            text, tool, args = resolve(captures.next_reply(session), body, api)
            if api == "chat":
                completion = chat_completion(body, text, tool, args)
                if body.get("stream"):
                    return self._stream([(None, c) for c in chat_chunks(completion)])
                return self._send(200, completion)
            response = response_object(body, text, tool, args)
            if body.get("stream"):
                return self._stream(list(response_events(response)))
            return self._send(200, response)

    return Handler


def serve(out: Path, port: int = 0) -> tuple[ThreadingHTTPServer, Captures]:
    captures = Captures(out)
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(captures))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, captures
