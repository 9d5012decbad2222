"""`/v1/embeddings` through routetax with the openai SDK: passed through as asked, metered at its own price."""

from __future__ import annotations

import base64
import struct

import httpx
import openai
import pytest
from openai import OpenAI

from router.servers import RunningServer
from tests.test_proxy_acceptance import records

SMALL = "text-embedding-3-small"


def test_the_sdks_embeddings_work_through_routetax_exactly_as_direct(
    client: OpenAI, proxy: RunningServer, emulator: RunningServer
) -> None:
    direct = OpenAI(base_url=f"{emulator.url}/v1", api_key="x", max_retries=0)
    texts = ["routing tax", "a second input"]
    raw = client.embeddings.with_raw_response.create(model=SMALL, input=texts)  # the SDK asks for base64
    routed = raw.parse()
    assert raw.headers["x-routetax-tier"] == "nano" and "x-routetax-class" not in raw.headers
    assert routed.model == SMALL  # the client's model, not the tier's chat model
    assert [d.embedding for d in routed.data] == [
        d.embedding for d in direct.embeddings.create(model=SMALL, input=texts).data
    ]
    floats = client.embeddings.create(model=SMALL, input="routing tax", encoding_format="float", dimensions=64)
    assert len(floats.data[0].embedding) == 64
    first, second = records(proxy, 2)
    assert (first.api, first.label, first.tier_path, first.outcome) == ("embeddings", "embedding", ["nano"], "success")
    assert first.attempts[0].model == SMALL
    assert first.usage.prompt_tokens == routed.usage.prompt_tokens and first.usage.completion_tokens == 0
    assert first.cost_usd == pytest.approx(routed.usage.prompt_tokens * 0.02 / 1e6)  # not nano's $0.20 per 1M


def test_the_report_leaves_embeddings_out(client: OpenAI, proxy: RunningServer) -> None:
    client.embeddings.create(model=SMALL, input="not a task")
    records(proxy, 1)
    report = httpx.get(f"{proxy.url}/v1/routing-tax").json()
    assert report["measured"]["requests"] in (0, None)


def test_an_embedding_model_the_router_does_not_serve_is_404(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.embeddings.create(model="text-embedding-9", input="x")
    assert caught.value.code == "model_not_found"
    assert caught.value.response.headers["x-should-retry"] == "false"


def test_a_bad_embeddings_body_is_a_400_naming_the_field(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model=SMALL, input=[])
    assert caught.value.code == "invalid_type" and caught.value.body["param"] == "input"


def test_base64_vectors_reach_the_client_as_the_upstream_sent_them(proxy: RunningServer) -> None:
    body = {"model": SMALL, "input": "bytes", "encoding_format": "base64"}
    answer = httpx.post(f"{proxy.url}/v1/embeddings", json=body).json()
    vector = base64.b64decode(answer["data"][0]["embedding"])
    assert len(vector) % 4 == 0 and struct.unpack(f"<{len(vector) // 4}f", vector)
