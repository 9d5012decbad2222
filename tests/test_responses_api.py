"""Acceptance for the Responses API: the openai SDK's `responses.create` through the proxy."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from openai import OpenAI

from demo.world import demo_config
from router.config import Config
from router.servers import RunningServer
from tests.conftest import script
from tests.test_proxy_acceptance import records

NO_FALLBACK = {"x-routetax-fallback": "off"}
FUNCTION_TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


def test_plain_response_is_routed_and_metered_with_real_usage(client: OpenAI, proxy: RunningServer) -> None:
    raw = client.responses.with_raw_response.create(model="auto", input="Say hello in five words.")
    response = raw.parse()
    assert response.output_text
    assert raw.headers["x-routetax-tier"] == "nano" and raw.headers["x-routetax-class"] == "single_turn"
    [record] = records(proxy, 1)
    assert record.api == "responses" and record.outcome == "success"
    assert record.usage.prompt_tokens == response.usage.input_tokens
    assert record.usage.completion_tokens == response.usage.output_tokens
    assert record.usage.reasoning_tokens == response.usage.output_tokens_details.reasoning_tokens
    assert not record.estimated


def test_streamed_response_relays_events_and_meters_usage_from_completed(client: OpenAI, proxy: RunningServer) -> None:
    events = list(client.responses.create(model="auto", input="Say hello.", stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert kinds.count("response.output_text.delta") >= 3
    completed = events[-1].response
    [record] = records(proxy, 1)
    assert record.stream and record.usage.prompt_tokens == completed.usage.input_tokens
    assert record.usage.completion_tokens == completed.usage.output_tokens and not record.estimated


def test_function_tools_make_it_agentic_and_return_a_function_call(client: OpenAI, proxy: RunningServer) -> None:
    raw = client.responses.with_raw_response.create(model="auto", input="Weather in Oslo?", tools=FUNCTION_TOOLS)
    response = raw.parse()
    assert raw.headers["x-routetax-class"] == "agentic" and raw.headers["x-routetax-tier"] == "mini"
    [call] = [item for item in response.output if item.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "example"}
    [record] = records(proxy, 1)
    assert record.label == "agentic" and record.usage.prompt_tokens > 0


def test_continuation_lands_on_the_tier_that_created_the_response(client: OpenAI, proxy: RunningServer) -> None:
    first = client.responses.with_raw_response.create(model="auto", input="Weather in Oslo?", tools=FUNCTION_TOOLS)
    call = next(item for item in first.parse().output if item.type == "function_call")
    assert first.headers["x-routetax-tier"] == "mini"
    second = client.responses.with_raw_response.create(
        model="auto",
        previous_response_id=first.parse().id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"temp_c": 4}'}],
        tools=FUNCTION_TOOLS,
    )
    assert second.headers["x-routetax-tier"] == "mini"  # where the conversation's state lives
    assert second.parse().output_text
    one, two = records(proxy, 2)
    assert two.tier_path == ["mini"] and two.usage.prompt_tokens > one.usage.prompt_tokens  # history counted


def test_streamed_continuation_lands_on_the_same_tier(client: OpenAI) -> None:
    created = None
    for event in client.responses.create(model="nano", input="Hello", stream=True):
        if event.type == "response.completed":
            created = event.response.id
    raw = client.responses.with_raw_response.create(model="auto", previous_response_id=created, input="And again?")
    assert raw.headers["x-routetax-tier"] == "nano"


def test_unknown_previous_response_id_is_a_404(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="auto", previous_response_id="resp_does_not_exist", input="hi")
    assert caught.value.code == "previous_response_not_found"


def test_get_and_delete_go_to_the_owning_tier(client: OpenAI, proxy: RunningServer) -> None:
    created = client.responses.create(model="mini", input="Remember this.")
    fetched = client.responses.with_raw_response.retrieve(created.id)
    assert fetched.parse().id == created.id and fetched.headers["x-routetax-tier"] == "mini"
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_unknown")
    assert httpx.get(f"{proxy.url}/v1/responses/{created.id}").status_code == 404  # deleted at the upstream


def test_get_at_a_tier_that_is_gone_is_a_502_like_a_post(
    client: OpenAI, proxy: RunningServer, emulator: RunningServer
) -> None:
    created = client.responses.create(model="mini", input="Remember this.")
    emulator.stop()
    fetched = httpx.get(f"{proxy.url}/v1/responses/{created.id}")
    posted = httpx.post(f"{proxy.url}/v1/responses", json={"model": "mini", "input": "hi"}, headers=NO_FALLBACK)
    for answer in (fetched, posted):
        error = answer.json()["error"]
        assert answer.status_code == 502 and error["type"] == "server_error"
        assert error["code"] in ("upstream_connect_error", "upstream_protocol_error")
        assert error["message"] == f"Upstream tier `mini` failed: {error['code'].removeprefix('upstream_')}."
    assert fetched.headers["x-routetax-tier"] == "mini" and fetched.headers["x-routetax-request-id"]


def test_tiers_without_the_responses_api_are_never_picked(emulator: RunningServer, start_proxy) -> None:
    base = demo_config(emulator.url).model_dump()
    base["tiers"]["nano"]["responses"] = False
    proxy = start_proxy(Config.model_validate(base))
    client = OpenAI(base_url=f"{proxy.url}/v1", api_key="x", max_retries=0)
    raw = client.responses.with_raw_response.create(model="auto", input="hi")
    assert raw.headers["x-routetax-tier"] == "mini"  # nano's chain, minus nano
    only_nano = demo_config(emulator.url).model_dump()
    only_nano["tiers"] = {"nano": {**only_nano["tiers"]["nano"], "responses": False}}
    only_nano["policy"] = {"single_turn": "nano", "agentic": "nano"}
    lonely = start_proxy(Config.model_validate(only_nano))
    response = httpx.post(f"{lonely.url}/v1/responses", json={"model": "auto", "input": "hi"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "responses_not_supported"
    assert "does not serve the Responses API" in response.json()["error"]["message"]


def test_retries_and_fallbacks_work_for_responses(
    client: OpenAI, proxy: RunningServer, emulator: RunningServer
) -> None:
    script(emulator, "gpt-5.4-nano", outcomes=["500", "500", "500"])
    raw = client.responses.with_raw_response.create(model="auto", input="hi")
    assert raw.headers["x-routetax-tier"] == "mini"
    [record] = records(proxy, 1)
    assert [a.tier for a in record.attempts] == ["nano", "nano", "nano", "mini"]


def test_failed_stream_event_is_relayed_and_metered(
    client: OpenAI, proxy: RunningServer, emulator: RunningServer
) -> None:
    script(emulator, "gpt-5.4-nano", outcomes=["500"])
    kinds = [event.type for event in client.responses.create(model="nano", input="hi", stream=True)]
    assert kinds[-1] == "response.failed"
    [record] = records(proxy, 1)
    assert record.api == "responses" and record.attempts[-1].tier == "nano" and record.outcome == "failed"


def test_incomplete_response_is_metered(client: OpenAI, proxy: RunningServer) -> None:
    response = client.responses.create(model="nano", input="Write a long essay.", max_output_tokens=16)
    assert response.status == "incomplete"
    [record] = records(proxy, 1)
    assert record.usage.completion_tokens == response.usage.output_tokens


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"model": "auto"}, "missing_required_parameter"),
        ({"model": "auto", "input": 42}, "invalid_type"),
        ({"model": "auto", "input": "hi", "previous_response_id": 7}, "invalid_type"),
    ],
)
def test_malformed_responses_bodies_are_400(proxy: RunningServer, body: dict, code: str) -> None:
    response = httpx.post(f"{proxy.url}/v1/responses", json=body)
    assert response.status_code == 400 and response.json()["error"]["code"] == code


def test_responses_stream_cut_by_the_upstream_ends_with_an_error_event(
    client: OpenAI, proxy: RunningServer, emulator: RunningServer
) -> None:
    script(emulator, "gpt-5.4-nano", outcomes=["disconnect_mid_stream"])
    events = list(client.responses.create(model="nano", input="hi", stream=True))
    assert events[0].type == "response.created"
    assert events[-1].type == "error" and "broke off the stream" in events[-1].message
    [record] = records(proxy, 1)
    assert record.outcome == "failed" and record.api == "responses"


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_prompt_too_long_for_a_tiers_window_skips_it_on_both_apis(
    emulator: RunningServer, start_proxy, api: str
) -> None:
    base = demo_config(emulator.url).model_dump()
    base["tiers"]["nano"]["max_input_tokens"] = 100  # about 1,000 words do not fit; mini's window does
    proxy = start_proxy(Config.model_validate(base))
    words = "word " * 1_000
    if api == "chat":
        answer = httpx.post(
            f"{proxy.url}/v1/chat/completions", json={"model": "nano", "messages": [{"role": "user", "content": words}]}
        )
    else:
        answer = httpx.post(f"{proxy.url}/v1/responses", json={"model": "nano", "input": words})
    assert answer.status_code == 200 and answer.headers["x-routetax-tier"] == "mini"
    [record] = records(proxy, 1)
    assert record.skipped_tiers == {"nano": "context_length"} and record.tier_path == ["mini"]
