"""The request bodies the proxy accepts, described for its OpenAPI document.

The handlers read raw bytes (parsing once, with orjson) rather than pydantic models, so
FastAPI cannot infer these schemas; they are declared here for clients, for API tooling,
and for the schemathesis fuzzing suite that checks no body earns a 5xx. They describe
the fields routetax itself reads; every other field passes through to the upstream.
"""

from __future__ import annotations

from typing import Any

MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool", "function"]},
        "content": {"type": ["string", "null"]},
    },
}
TOOL = {"type": "object", "properties": {"type": {"type": "string"}, "function": {"type": "object"}}}
CHAT = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string"},
        "messages": {"type": "array", "minItems": 1, "items": MESSAGE},
        "stream": {"type": "boolean"},
        "stream_options": {"type": "object"},
        "max_tokens": {"type": "integer", "minimum": 1},
        "n": {"type": "integer", "minimum": 1, "maximum": 128},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "tools": {"type": "array", "items": TOOL},
        "tool_choice": {"type": ["string", "object"]},
    },
}
RESPONSES = {
    "type": "object",
    "required": ["model"],
    "properties": {
        "model": {"type": "string"},
        "input": {"type": ["string", "array"]},
        "instructions": {"type": "string"},
        "previous_response_id": {"type": "string"},
        "stream": {"type": "boolean"},
        "max_output_tokens": {"type": "integer", "minimum": 1},
        "tools": {"type": "array", "items": {"type": "object"}},
    },
}
EMBEDDINGS = {
    "type": "object",
    "required": ["model", "input"],
    "properties": {
        "model": {"type": "string"},
        "input": {"type": ["string", "array"]},
        "encoding_format": {"type": "string", "enum": ["float", "base64"]},
        "dimensions": {"type": "integer", "minimum": 1},
        "user": {"type": "string"},
    },
}
FEEDBACK = {
    "type": "object",
    "description": "Whether a task succeeded: name the task (`task`) or one of its requests (`request_id`), not both.",
    "required": ["success"],
    "properties": {
        "task": {"type": "string", "description": "the task id (the x-routetax-task header of its answers)"},
        "request_id": {"type": "string", "description": "a request of the task (its x-routetax-request-id)"},
        "key_id": {"type": "string", "description": "admin key only: the key whose task `task` is"},
        "success": {"type": "boolean"},
        "reason": {"type": "string"},
    },
}


def body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
