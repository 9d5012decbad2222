"""Drive routetax with the OpenAI Agents SDK's `output_type`: run in the SDK's own venv, print JSON results.

Usage: `<agents venv>/bin/python agents_driver.py BASE_URL` (BASE_URL ends in /v1). For each of the
SDK's two model classes (Responses, the default; Chat Completions) it runs an agent whose
`output_type` is a pydantic model, and an agent that calls a function tool and then answers with
structured output, once with `Runner.run_sync` and once streamed (`Runner.run_streamed`). Each run
reports the final output's type and fields, the arguments the tool received, and every HTTP
exchange with routetax (status, x-routetax-* headers, and the SSE comments of its body, read from the
bytes the SDK itself consumed), so the test can check them against the ledger. Tracing is off: nothing leaves loopback.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import sys
import traceback
from typing import Any

os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"  # before the SDK reads it

import openai  # noqa: E402
from agents import (  # noqa: E402
    Agent,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from agents_models import Booking, Ticket  # noqa: E402

try:  # the HTTP client the openai SDK is built on: httpx2 in its recent versions, httpx before
    import httpx2 as httpx
except ImportError:
    import httpx

set_tracing_disabled(True)

TOOL_CALLS: list[dict[str, Any]] = []


@function_tool
def book_table(restaurant: str, guests: int, dishes: list[str]) -> str:
    """Book a table at a restaurant for a number of guests, with dishes ordered ahead."""
    TOOL_CALLS.append(
        {
            "restaurant": [restaurant, type(restaurant).__name__],
            "guests": [guests, type(guests).__name__],
            "dishes": [dishes, type(dishes).__name__],
        }
    )
    return f"Booked {restaurant} for {guests}."


class TeeStream(httpx.AsyncByteStream):
    """A response body passed on to the SDK as it arrives, its bytes kept: the SSE comments are read from them."""

    def __init__(self, inner: Any, sink: list[bytes]) -> None:
        self.inner, self.sink = inner, sink

    async def __aiter__(self):
        async for chunk in self.inner:
            self.sink.append(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


class Tee(httpx.AsyncBaseTransport):
    """The SDK's own transport, with every response body kept as well (the SDK reads it unchanged)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        sink: list[bytes] = []
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=TeeStream(response.stream, sink),
            extensions={**response.extensions, "tee": sink},
            request=request,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


def sse_comments(exchange: dict[str, Any]) -> list[str]:
    """The SSE comment lines of an exchange's body (`:` first): every SSE parser, the SDK's too, skips them."""
    body = b"".join(exchange.pop("_body"))
    return [line.decode() for line in body.split(b"\n") if line.startswith(b":")]


def model_for(base_url: str, api: str, exchanges: list[dict[str, Any]]):
    async def record(response: Any) -> None:
        exchanges.append(
            {
                "method": response.request.method,
                "path": response.request.url.path,
                "status": response.status_code,
                "routetax": {k: v for k, v in response.headers.items() if k.startswith("x-routetax-")},
                "_body": response.extensions["tee"],
            }
        )

    http = openai.DefaultAsyncHttpxClient(event_hooks={"response": [record]}, transport=Tee())
    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-agents-driver", max_retries=0, http_client=http)
    if api == "chat":
        return OpenAIChatCompletionsModel(model="auto", openai_client=client)
    return OpenAIResponsesModel(model="auto", openai_client=client)


def run(base_url: str, api: str, scenario: str) -> dict[str, Any]:
    exchanges: list[dict[str, Any]] = []
    TOOL_CALLS.clear()
    model = model_for(base_url, api, exchanges)
    if scenario == "output_type":
        agent = Agent(
            name="Ticket writer",
            instructions="Turn the customer's message into a support ticket.",
            output_type=Ticket,
            model=model,
        )
        prompt = "My order of 3 lamps to Lisbon 1100-148 arrived broken, please help quickly."
    else:
        agent = Agent(
            name="Concierge",
            instructions="Book the table with the tool, then report the booking.",
            tools=[book_table],
            output_type=Booking,
            model=model,
        )
        prompt = "Book Casa Lisboa for four people, we'd like the bacalhau."
    outcome: dict[str, Any] = {"api": api, "scenario": scenario}
    try:
        if scenario == "tool_streamed":
            result = asyncio.run(streamed(agent, prompt))
        else:
            result = Runner.run_sync(agent, prompt, max_turns=4)
    except Exception as exc:  # reported, not raised: the test shows what failed and where
        outcome["error"] = f"{type(exc).__name__}: {exc}"
        outcome["traceback"] = traceback.format_exc()[-3000:]
    else:
        output = result.final_output
        outcome["output_class"] = type(output).__name__
        outcome["output"] = output.model_dump(mode="json") if hasattr(output, "model_dump") else output
        outcome["field_types"] = {name: type(getattr(output, name)).__name__ for name in type(output).model_fields}
        outcome["items"] = [item.type for item in result.new_items]
    outcome["tool_calls"] = list(TOOL_CALLS)
    for exchange in exchanges:
        exchange["sse_comments"] = sse_comments(exchange)
    outcome["exchanges"] = exchanges
    return outcome


async def streamed(agent: Agent, prompt: str):
    result = Runner.run_streamed(agent, prompt, max_turns=4)
    async for _event in result.stream_events():
        pass
    return result


SCENARIOS = ("output_type", "tool", "tool_streamed")


def main() -> int:
    base_url = sys.argv[1]
    runs = [run(base_url, api, scenario) for api in ("responses", "chat") for scenario in SCENARIOS]
    versions = {name: importlib.metadata.version(name) for name in ("openai-agents", "openai", "pydantic")}
    print(json.dumps({"versions": versions, "runs": runs}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
