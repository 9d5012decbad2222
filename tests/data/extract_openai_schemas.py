"""Extract the schemas the conformance test needs from OpenAI's published OpenAPI spec.

Source: https://github.com/openai/openai-openapi (`openapi.json`). Usage:

    python tests/data/extract_openai_schemas.py PATH/TO/openapi.json COMMIT > tests/data/openai-schemas.json

Keeps the closure (by `$ref`) of the answer objects routetax relays — chat completions and their
stream chunks, Responses and their stream events, embeddings requests and answers — with descriptions
and examples dropped.
"""

from __future__ import annotations

import json
import sys

ROOTS = (
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    "Response",
    "ResponseStreamEvent",
    "CreateEmbeddingRequest",
    "CreateEmbeddingResponse",
)
DROPPED = ("description", "example", "examples", "x-oaiMeta", "title", "x-oaiExpandable", "x-stainless-const")


def _refs(node: object, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value.rsplit("/", 1)[-1])
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _strip(node: object, names: bool = False) -> object:
    """Drop documentation keywords and turn OpenAPI 3.0's `nullable: true` (still used in a few places of
    the 3.1 document) into JSON Schema; `names` marks a `properties` map, whose keys are field names."""
    if isinstance(node, dict):
        if names:
            return {k: _strip(v) for k, v in node.items()}
        out = {k: _strip(v, names=k in ("properties", "$defs")) for k, v in node.items() if k not in DROPPED}
        if out.pop("nullable", False):
            if "$ref" in out:
                out = {"anyOf": [{"$ref": out.pop("$ref")}, {"type": "null"}], **out}
            elif isinstance(out.get("type"), str):
                out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        return out
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def main(path: str, commit: str) -> None:
    schemas = json.load(open(path))["components"]["schemas"]
    keep: set[str] = set()
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep.add(name)
        found: set[str] = set()
        _refs(schemas[name], found)
        todo.extend(found - keep)
    out = {
        "source": "https://github.com/openai/openai-openapi/blob/" + commit + "/openapi.json",
        "commit": commit,
        "roots": list(ROOTS),
        "schemas": {name: _strip(schemas[name]) for name in sorted(keep)},
    }
    json.dump(out, sys.stdout, indent=None, separators=(",", ":"), sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
