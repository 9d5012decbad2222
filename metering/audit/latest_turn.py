"""LiteLLM rows stored with `spend_logs_prompt_storage: latest_turn`: what their class can be read from.

With that setting LiteLLM keeps, of a stateless request (Chat Completions, or Responses without
`previous_response_id`), only the model and the latest user message as text — the system prompt,
the tool definitions and every earlier turn are dropped — and, when the latest message is not a
user's text (a tool result), only the model. The answer is stored whole. Read as a request body,
such a row looks like a one-line chat, and a tool-result turn like no request at all: an agent's
traffic reads as single-turn, or is skipped.

What is still there tells most of it:
- the stored answer calls a tool: the request declared tools, it is agentic;
- only the model was kept: the latest message was not a user's text — a tool result (or another
  non-user turn) continuing a loop: agentic;
- another row of the same `session_id` was agentic by one of those two: so is this one (an
  application sends its tools with every turn of a conversation).
What is left — the latest user message, an answer without tool calls, no agentic session — cannot
be told apart: a chat turn and an agent's turn that answered in text look the same. Those rows are
classified by their one message (single-turn unless it reads as agentic) and counted, so the report
can say how many there are and what the share would be if they were all agentic.

A row is read this way only if its stored body has nothing but what LiteLLM keeps (the model, one
user message as text); any other key means the whole request was stored and the classifier reads
it as usual. The rows a session decides wait for it (the rows of one conversation need not be
adjacent in an export), at most `MAX_WAITING` rows and `MAX_SESSIONS` sessions; past that the
oldest session is settled as it stands.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metering.audit.formats import Observation


class Stored(StrEnum):
    """How a LiteLLM row whose body holds only what `latest_turn` keeps gives its class."""

    TOOL_CALLS = "response_tool_calls"  # the stored answer calls a tool
    TOOL_TURN = "tool_result_turn"  # only the model kept: the latest message was not a user's text
    OPEN = "latest_user_message"  # one user message and an answer without tool calls: decided by the session, if any


class Read(StrEnum):
    """How each latest-turn row was finally counted (the warning's counts)."""

    TOOL_CALLS = "agentic_by_response_tool_calls"
    TOOL_TURN = "agentic_by_tool_result_turn"
    SESSION = "agentic_by_session"
    MESSAGE = "agentic_by_its_message"
    UNDETERMINED = "undetermined"  # single-turn by its one message; could have been an agent's turn


SESSION_REASON = "session_agentic"  # the classifier-reason name a row decided by its session is counted under
KEPT_KEYS = frozenset({"model", "messages", "input", "originating_request_masked"})
# Responses output items that are a call the model made (function tools, custom tools, built-in tools).
TOOL_CALL_ITEMS = frozenset(
    {
        "function_call",
        "custom_tool_call",
        "web_search_call",
        "file_search_call",
        "computer_call",
        "code_interpreter_call",
        "image_generation_call",
        "local_shell_call",
        "shell_call",
        "apply_patch_call",
        "mcp_call",
    }
)


def stored_as(body: dict[str, Any], response: Any) -> Stored | None:
    """How this row's class can be read if its body is what `latest_turn` keeps; None if the body is whole."""
    if not body.keys() <= KEPT_KEYS:
        return None
    turns = body["messages"] if "messages" in body else body.get("input")
    if turns is None:
        if "model" not in body:
            return None  # `{}`: nothing stored at all (prompts not kept)
        return Stored.TOOL_CALLS if calls_tools(response) else Stored.TOOL_TURN
    if not (type(turns) is list and len(turns) == 1):
        return None
    turn = turns[0]
    if type(turn) is not dict or turn.keys() != {"role", "content"} or turn["role"] != "user":
        return None
    if type(turn["content"]) is not str:
        return None
    return Stored.TOOL_CALLS if calls_tools(response) else Stored.OPEN


def read_as(o: Observation) -> Read:
    """How a latest-turn row (`o.stored` set) was finally counted, once its session had its say."""
    if o.stored is Stored.TOOL_CALLS:
        return Read.TOOL_CALLS
    if o.stored is Stored.TOOL_TURN:
        return Read.TOOL_TURN
    if o.reasons == (SESSION_REASON,):
        return Read.SESSION
    return Read.MESSAGE if o.agentic else Read.UNDETERMINED


def calls_tools(response: Any) -> bool:
    """Whether a stored answer (Chat Completions or Responses) calls a tool."""
    if type(response) is not dict:
        return False
    choices = response.get("choices")
    if type(choices) is list:
        for choice in choices:
            if type(choice) is not dict:
                continue
            if choice.get("finish_reason") in ("tool_calls", "function_call"):
                return True
            message = choice.get("message")
            if type(message) is dict and (message.get("tool_calls") or message.get("function_call")):
                return True
        return False
    output = response.get("output")
    if type(output) is list:
        return any(type(item) is dict and item.get("type") in TOOL_CALL_ITEMS for item in output)
    return False


class Sessions:
    """Decides latest-turn rows by their session (the caller counts each row with `read_as`)."""

    MAX_WAITING = 100_000  # rows waiting for their session (each about 300 bytes: its body is dropped first)
    MAX_SESSIONS = 200_000  # sessions remembered

    def __init__(self) -> None:
        self.sessions: dict[str, list[Observation] | None] = {}  # None: agentic; a list: rows waiting
        self.waiting = 0
        self.proven = False  # the logs show `latest_turn` storage: a row whose stored body cannot be whole

    def take(self, o: Observation) -> list[Observation]:
        """The rows to count now: this one unless it waits for its session, and any its session decides."""
        stored, session = o.stored, o.session
        if stored is Stored.OPEN:
            if session is None:
                return [o]
            state = self.sessions.get(session, ())
            if state is None:
                _agentic(o)
                return [o]
            if not state:
                state = self.sessions[session] = []
            state.append(o)
            self.waiting += 1
            return self._evict()
        self.proven = True
        if session is None:
            return [o]
        released = self.sessions.get(session)
        self.sessions[session] = None
        if not released:
            return [o, *self._evict()]
        self.waiting -= len(released)
        for row in released:
            _agentic(row)
        return [o, *released, *self._evict()]

    def finish(self) -> list[Observation]:
        """Every row still waiting, as its own message classified it."""
        rows = [row for state in self.sessions.values() if state for row in state]
        self.sessions.clear()
        self.waiting = 0
        return rows

    def _evict(self) -> list[Observation]:
        settled: list[Observation] = []
        while self.waiting > self.MAX_WAITING or len(self.sessions) > self.MAX_SESSIONS:
            rows = self.sessions.pop(next(iter(self.sessions)))
            if rows:
                self.waiting -= len(rows)
                settled.extend(rows)
        return settled


def _agentic(o: Observation) -> None:
    o.agentic, o.confident, o.reasons = True, True, (SESSION_REASON,)
