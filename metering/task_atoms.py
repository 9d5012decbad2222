"""A request's history, and the answer it got, as a flat list of comparable atoms.

Task identity asks whether request n+1 extends request n plus the answer routetax gave it. No SDK
sends those bytes back as they came: each re-serialises with its own key order, drops null fields,
`refusal`, `status`, `logprobs` or `annotations`, turns a list of text parts into a string, loses
Responses item ids (`msg_…`, `fc_…`) while keeping `call_id`, re-spaces tool-call arguments — and an
agent that hands off to another replaces its system message and tools. So histories are compared on
what survives all of that: message role and text, tool call id + name + parsed arguments, tool output
id + text. System and developer messages (and Responses `instructions`) are not part of it, reasoning
items neither. Chat and Responses histories give the same atoms, so one index serves both APIs.

Pure functions of parsed JSON; nothing here raises on odd input (an odd item becomes an atom of its own).
The proxy's task identity (`router.tasks`) and the audit's grouping of logged requests into tasks
(`metering.audit.task_keys`) both compare histories through this module, so the two agree on what "extends" is.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

SEPARATOR = "\x1f"
DIGEST_BYTES = 16
SKIPPED_ROLES = frozenset({"system", "developer"})
TEXT_PARTS = frozenset({"text", "input_text", "output_text"})
DROPPED_KEYS = frozenset({"id", "status", "refusal", "annotations", "logprobs"})


class Kind:
    """What an atom is (a closed set; short strings because they are hashed on every request)."""

    MESSAGE = "m"  # a message: `ref` is its role
    CALL = "c"  # a tool call the model asked for: `ref` its call id, `name` the tool
    OUTPUT = "o"  # a tool's output sent back: `ref` the call id it answers
    ITEM = "i"  # anything else (a built-in tool's call, an item reference): `name` is its type


# An atom is a plain tuple (kind, ref, name, text), read by position (`KIND`...) or unpacked:
#   kind  a `Kind`
#   ref   the role (message) or the call id (call, output)
#   name  the tool's name (call) or the item's type
#   text  message text, canonical arguments, output text, or an item's canonical JSON
# Not a NamedTuple: the index and the memo keep hundreds of thousands of them, and the collector stops
# tracking an exact tuple of strings after its first look at it, while a tuple subclass is scanned by every
# collection for as long as it lives (measured: ~5 tracked objects fewer per request; each collection of the
# generations they sat in took up to 16 ms with them, the proxy's p99 under concurrent load).
Atom = tuple[str, str, str, str]
KIND, REF, NAME, TEXT = range(4)
_MESSAGE, _CALL, _OUTPUT, _ITEM = Kind.MESSAGE, Kind.CALL, Kind.OUTPUT, Kind.ITEM  # read on every message


def _atom(kind: str, ref: str, name: str, text: str) -> Atom:
    return (kind, ref, name, text)


def message_text(atoms: list[Atom]) -> str:
    """The text of the messages among `atoms`, joined (an answer's visible text)."""
    return "".join(text for kind, _, _, text in atoms if kind == Kind.MESSAGE)


def chat_atoms(messages: Any) -> list[Atom]:
    """The atoms of a chat `messages` list (or of one answer message wrapped in a list).

    On every request, once per message: the common shapes (string content, no calls) take the short path, and
    atoms are written as tuples in place (a call per atom or per field was a tenth of identity's Python).
    """
    atoms: list[Atom] = []
    if not isinstance(messages, list):
        return atoms
    add = atoms.append
    for message in messages:
        if type(message) is not dict:
            add((_ITEM, "", "", canonical(message)))
            continue
        role = message.get("role")
        if role in SKIPPED_ROLES:
            continue
        content = message.get("content")
        text = content if type(content) is str else text_of(content)
        if role == "tool":
            ref = message.get("tool_call_id")
            add((_OUTPUT, ref if type(ref) is str else "", "", text))
            continue
        if role == "function":  # the legacy function-calling protocol: answered by name
            add((_OUTPUT, _str(message.get("name")), "", text))
            continue
        role = role if type(role) is str else ""
        if role == "assistant" and text.startswith("<think>"):
            text = without_thinking(text)
        if text or role != "assistant":
            add((_MESSAGE, role, "", text))
        calls = message.get("tool_calls")
        if calls:
            for call in calls:
                function = call.get("function") if type(call) is dict else None
                if type(function) is not dict:
                    add((_ITEM, "", "tool_call", canonical(call)))
                    continue
                ref, name = call.get("id"), function.get("name")
                add((_CALL, ref if type(ref) is str else "", name if type(name) is str else "", arguments(function)))
        legacy = message.get("function_call")
        if type(legacy) is dict:
            add((_CALL, "", _str(legacy.get("name")), arguments(legacy)))
    return atoms


def responses_atoms(items: Any) -> list[Atom]:
    """The atoms of a Responses `input` (a string or a list of items) or of a response's `output` list."""
    if isinstance(items, str):
        return [_atom(Kind.MESSAGE, "user", "", items)]
    atoms: list[Atom] = []
    if not isinstance(items, list):
        return atoms
    for item in items:
        if not isinstance(item, dict):
            atoms.append(_atom(Kind.ITEM, "", "", canonical(item)))
            continue
        kind = item.get("type")
        if kind is None or kind == "message":
            role = _str(item.get("role"))
            if role in SKIPPED_ROLES:
                continue
            text = text_of(item.get("content"))
            if role == "assistant" and text.startswith("<think>"):
                text = without_thinking(text)
            if text or role != "assistant":
                atoms.append(_atom(Kind.MESSAGE, role, "", text))
        elif kind == "reasoning":
            continue
        elif kind in ("function_call", "custom_tool_call"):
            args = arguments(item) if kind == "function_call" else _str(item.get("input"))
            atoms.append(_atom(Kind.CALL, _str(item.get("call_id")), _str(item.get("name")), args))
        elif isinstance(kind, str) and kind.endswith("_output") and "call_id" in item:
            output = item.get("output")
            text = text_of(output) if isinstance(output, (str, list)) or output is None else canonical(output)
            atoms.append(_atom(Kind.OUTPUT, _str(item.get("call_id")), "", text))
        elif kind == "item_reference":  # the id is all it says
            atoms.append(_atom(Kind.ITEM, _str(item.get("id")), kind, ""))
        else:
            atoms.append(_atom(Kind.ITEM, "", _str(kind), canonical(item)))
    return atoms


def history_atoms(body: dict[str, Any], api: str) -> list[Atom]:
    """A request's history: chat `messages`, or Responses `input`."""
    return responses_atoms(body.get("input")) if api == "responses" else chat_atoms(body.get("messages"))


def text_of(content: Any) -> str:
    """A content's text: a string, or its text parts joined (`""` ≡ null ≡ absent ≡ no parts).

    A part that is not text (an image, a file, audio) is kept as its canonical JSON, so two histories
    that differ only in an image are not the same history.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return canonical(content)
    parts: list[str] = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict):
            kind = part.get("type")
            if kind in TEXT_PARTS or (kind is None and isinstance(part.get("text"), str)):
                parts.append(_str(part.get("text")))
            elif kind != "refusal":
                parts.append(canonical(part))
    return "".join(parts)


def without_thinking(text: str) -> str:
    """An answer's text without the `<think>…</think>` block a reasoning model (Qwen) opens it with: clients
    differ on whether they send it back, so it is never part of the comparison."""
    end = text.find("</think>")
    return text[end + len("</think>") :].lstrip() if end >= 0 else text


# Canonical arguments by the arguments string as sent, two generations of this many: an answer's tool calls are
# canonicalised when it is filed and again when the next step sends them back (the same string: SDKs keep the
# model's arguments as they came), a parse and a sorted dump each time. Strings only (the collector tracks
# neither), at most `ARGUMENTS_MEMO_CHARS` each: ≤ 4,096 pairs of ≤ 4 KB (≤ 32 MB of ASCII; a few MB in practice,
# tool arguments being mostly short), the bound of the message memo (router.tasks.index.History).
ARGUMENTS_MEMO = 2048
ARGUMENTS_MEMO_CHARS = 4096
_canonical_young: dict[str, str] = {}
_canonical_old: dict[str, str] = {}


def arguments(function: dict[str, Any]) -> str:
    """Tool-call arguments as canonical JSON (`{"city":"x"}` ≡ `{"city": "x"}`); unparseable ones as sent."""
    global _canonical_young, _canonical_old
    raw = function.get("arguments")
    if isinstance(raw, (dict, list)):
        return canonical(raw)
    if not isinstance(raw, str):
        return ""
    found = _canonical_young.get(raw) or _canonical_old.get(raw)
    if found is not None:
        return found
    try:  # the arguments themselves are compared as the model wrote them: nulls and ids in them count
        found = orjson.dumps(orjson.loads(raw), option=orjson.OPT_SORT_KEYS).decode()
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        found = raw.strip()
    if len(raw) <= ARGUMENTS_MEMO_CHARS:
        if len(_canonical_young) >= ARGUMENTS_MEMO:
            _canonical_old, _canonical_young = _canonical_young, {}
        _canonical_young[raw] = found
    return found


def canonical(value: Any) -> str:
    """JSON with sorted keys, without the fields SDKs drop or add (ids, status, nulls, refusal, ...)."""
    try:
        return orjson.dumps(_pruned(value), option=orjson.OPT_SORT_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return repr(value)


def _pruned(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v is not None and k not in DROPPED_KEYS}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


# Every digest here is blake2b with `DIGEST_BYTES` of output: each one copies this unused hasher rather than
# constructing one (the constructor's keyword parsing cost ~700 of its ~4,400 instructions on a link, measured
# with callgrind; the proxy makes several a request). The same digests: a copy is the constructor's state.
_BLAKE2B = hashlib.blake2b(digest_size=DIGEST_BYTES)


def atom_bytes(atom: Atom) -> bytes:
    """What an atom's own digest hashes (a memo keyed by it finds the digest these very bytes give)."""
    return SEPARATOR.join(atom).encode("utf-8", "surrogatepass")


def digest_of(data: bytes) -> bytes:
    """The digest every atom and every link of a chain is: `atom_digest` hashes an atom's bytes, a link the
    previous link followed by the atom's own digest."""
    hasher = _BLAKE2B.copy()
    hasher.update(data)
    return hasher.digest()


def atom_digest(atom: Atom) -> bytes:
    """One atom's own digest: what the chain folds in (32 bytes hashed per link, whatever the atom's length)."""
    return digest_of(atom_bytes(atom))


def chain(start: bytes, atoms: list[Atom], own: list[bytes] | None = None) -> list[bytes]:
    """digests[i] is the digest of atoms[:i] (so len(atoms) + 1 of them): one pass over the history.

    `own`: the atoms' own digests when already known (the proxy's `History` keeps them per message)."""
    copy = _BLAKE2B.copy
    digests = [start]
    h = start
    for d in own if own is not None else map(atom_digest, atoms):
        hasher = copy()
        hasher.update(h + d)
        h = hasher.digest()
        digests.append(h)
    return digests


def model_runs(atoms: list[Atom]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Where the runs of atoms the model wrote end and start in a history: (ends, starts).

    An end is a position just after a run (where an earlier request's history plus its answer stops: an exact
    continuation), a start the position where a run begins (where the earlier request's own history stops)."""
    ends: list[int] = []
    starts: list[int] = []
    previous = False
    for i, (kind, ref, _, _) in enumerate(atoms):
        model = kind == "c" or (kind == "m" and ref == "assistant")  # the model wrote it (inlined: once per atom)
        if model and not previous:
            starts.append(i)
        elif previous and not model:
            ends.append(i)
        previous = model
    if previous:
        ends.append(len(atoms))
    return tuple(ends), tuple(starts)
