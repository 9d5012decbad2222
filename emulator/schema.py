"""A valid instance of a JSON Schema: what the emulator answers when a client asks for structured output.

OpenAI's structured outputs (`response_format` / `text.format` with a JSON schema) and typed tool
parameters promise JSON that matches the client's schema; client libraries parse it into their own
types (`chat.completions.parse`, agents' `output_type`, instructor), so an emulator that answered
with prose, or filled an integer with "example", would fail them where the real upstream would not.
This builds the simplest instance that validates: every declared property (strict mode requires them
all), the first enum value or const, the lower bound of a range, a minimal array.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 8  # recursive schemas (a tree of nodes) end in their smallest form below this


def instance_of(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """A JSON value valid against `schema` (draft 2020-12 subset used by structured outputs)."""
    root = schema if root is None else root
    if not isinstance(schema, dict):
        return {}
    if "$ref" in schema:
        return instance_of(_resolve(root, schema["$ref"]), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key) or () if isinstance(o, dict)]
        if options:
            chosen = next((o for o in options if o.get("type") != "null"), options[0])
            if depth >= MAX_DEPTH:
                chosen = next((o for o in options if o.get("type") == "null"), chosen)
            return instance_of(chosen, root, depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = instance_of(part, root, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    kind = schema.get("type")
    if isinstance(kind, list):
        if depth >= MAX_DEPTH and "null" in kind:
            return None
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        if depth >= MAX_DEPTH:
            return {}
        properties = schema.get("properties") or {}
        return {name: instance_of(spec, root, depth + 1) for name, spec in properties.items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems") or 0)) if depth < MAX_DEPTH else int(schema.get("minItems") or 0)
        items = schema.get("items") or schema.get("prefixItems") or {}
        if isinstance(items, list):
            return [instance_of(item, root, depth + 1) for item in items]
        return [instance_of(items, root, depth + 1) for _ in range(count)]
    if kind == "integer":
        return int(_lower(schema, 1))
    if kind == "number":
        return float(_lower(schema, 1.5))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema)


def _resolve(root: Any, ref: str) -> Any:
    """`#/$defs/Name` (or `#/definitions/Name`, any JSON pointer) within the root schema."""
    node = root
    for part in ref.lstrip("#/").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        node = node.get(part) if isinstance(node, dict) else None
    return node or {}


def _lower(schema: dict[str, Any], default: float) -> float:
    if "minimum" in schema:
        return schema["minimum"]
    if "exclusiveMinimum" in schema:
        return schema["exclusiveMinimum"] + 1
    if "maximum" in schema and schema["maximum"] < default:
        return schema["maximum"]
    return default


_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "hostname": "example.com",
}


def _string(schema: dict[str, Any]) -> str:
    value = _FORMATS.get(schema.get("format", ""), "example")
    minimum = int(schema.get("minLength") or 0)
    if len(value) < minimum:
        value = value + "x" * (minimum - len(value))
    maximum = schema.get("maxLength")
    return value[: int(maximum)] if isinstance(maximum, int) else value
