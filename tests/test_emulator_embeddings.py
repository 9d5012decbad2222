"""The emulator's /v1/embeddings speaks OpenAI's published protocol: the openai SDK works against it as is."""

from __future__ import annotations

import base64
import json
import math
from array import array
from pathlib import Path

import httpx
import pytest
from jsonschema import Draft202012Validator
from openai import BadRequestError, OpenAI

from emulator.app import build_emulator
from metering.tokens import count_text
from router.servers import RunningServer
from tests.conftest import script
from tests.running import Servers

SPEC = json.loads((Path(__file__).parent / "data" / "openai-schemas.json").read_text())["schemas"]
TEXTS = ["The food was delicious and the waiter was kind.", "Routing pays when the cheap tier finishes the task."]


def sdk(server: RunningServer) -> OpenAI:
    return OpenAI(base_url=f"{server.url}/v1", api_key="test-key", max_retries=0, timeout=10)


def post(server: RunningServer, **body: object) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/embeddings", json=body, timeout=10)


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


def test_the_sdks_default_base64_answer_decodes_to_the_float_answer(emulator: RunningServer) -> None:
    client = sdk(emulator)
    decoded = client.embeddings.create(model="text-embedding-3-small", input=TEXTS)  # asks for base64, decodes it
    floats = client.embeddings.create(model="text-embedding-3-small", input=TEXTS, encoding_format="float")
    assert [item.index for item in decoded.data] == [0, 1]
    assert [item.embedding for item in decoded.data] == [item.embedding for item in floats.data]
    for item in floats.data:
        assert len(item.embedding) == 1536 and item.object == "embedding"
        assert norm(item.embedding) == pytest.approx(1.0, abs=1e-5)
    assert floats.object == "list" and floats.model == "text-embedding-3-small"
    expected = sum(count_text(text) for text in TEXTS)
    assert floats.usage.prompt_tokens == expected and floats.usage.total_tokens == expected


def spec(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": {"schemas": SPEC}})


@pytest.mark.parametrize(
    "body",
    [
        {"model": "text-embedding-3-small", "input": "one text", "encoding_format": "float"},
        {"model": "text-embedding-3-small", "input": TEXTS, "user": "u-1"},
        {"model": "text-embedding-3-large", "input": [1212, 318, 257], "dimensions": 64},
        {"model": "text-embedding-ada-002", "input": [[1212, 318], [257]]},
    ],
)
def test_requests_and_answers_follow_the_published_schemas(emulator: RunningServer, body: dict) -> None:
    spec("CreateEmbeddingRequest").validate(body)
    response = post(emulator, **body)
    assert response.status_code == 200
    spec("CreateEmbeddingResponse").validate(response.json())  # float vectors: base64 is a string the spec omits


def test_base64_is_little_endian_float32_on_the_wire(emulator: RunningServer) -> None:
    raw = post(emulator, model="text-embedding-3-small", input="hello", encoding_format="base64").json()
    floats = post(emulator, model="text-embedding-3-small", input="hello").json()  # float is the default
    packed = base64.b64decode(raw["data"][0]["embedding"])
    assert len(packed) == 4 * 1536
    assert array("f", packed).tolist() == floats["data"][0]["embedding"]


def test_vectors_are_deterministic_per_model_and_input(emulator: RunningServer) -> None:
    client = sdk(emulator)

    def embed(model: str, text: str) -> list[float]:
        return client.embeddings.create(model=model, input=text, encoding_format="float").data[0].embedding

    assert embed("text-embedding-3-small", "a") == embed("text-embedding-3-small", "a")
    assert embed("text-embedding-3-small", "a") != embed("text-embedding-3-small", "b")
    assert len(embed("text-embedding-3-large", "a")) == 3072


def test_dimensions_shorten_the_native_vector_and_renormalise(emulator: RunningServer) -> None:
    client = sdk(emulator)
    full = client.embeddings.create(model="text-embedding-3-large", input="x", encoding_format="float")
    short = client.embeddings.create(model="text-embedding-3-large", input="x", dimensions=256)
    vector, prefix = short.data[0].embedding, full.data[0].embedding[:256]
    assert len(vector) == 256 and norm(vector) == pytest.approx(1.0, abs=1e-5)
    scale = norm(prefix)
    assert vector == pytest.approx([v / scale for v in prefix], abs=1e-6)


def test_token_ids_and_token_arrays_are_inputs_counted_one_token_each(emulator: RunningServer) -> None:
    client = sdk(emulator)
    one = client.embeddings.create(model="text-embedding-3-small", input=[1212, 318, 257, 1332, 13])
    assert len(one.data) == 1 and one.usage.prompt_tokens == 5
    two = client.embeddings.create(model="text-embedding-3-small", input=[[1212, 318], [257, 1332, 13]])
    assert [item.index for item in two.data] == [0, 1] and two.usage.prompt_tokens == 5


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "text-embedding-3-small", "input": ""}, "input"),
        ({"model": "text-embedding-3-small", "input": []}, "input"),
        ({"model": "text-embedding-3-small", "input": ["a", 1]}, "input"),
        ({"model": "text-embedding-3-small", "input": [[]]}, "input"),
        ({"model": "text-embedding-3-small", "input": {"text": "a"}}, "input"),
        ({"model": "text-embedding-3-small", "input": ["a"] * 2049}, "input"),
        ({"model": "text-embedding-3-small"}, "input"),
        ({"input": "a"}, "model"),
        ({"model": "text-embedding-3-small", "input": "a", "encoding_format": "int8"}, "encoding_format"),
        ({"model": "text-embedding-ada-002", "input": "a", "dimensions": 256}, "dimensions"),
        ({"model": "text-embedding-3-small", "input": "a", "dimensions": 4096}, "dimensions"),
        ({"model": "text-embedding-3-small", "input": "a", "dimensions": 0}, "dimensions"),
        ({"model": "text-embedding-3-small", "input": "a", "temperature": 0}, "temperature"),
    ],
)
def test_bad_requests_are_400_in_openais_shape(emulator: RunningServer, body: dict, param: str) -> None:
    response = post(emulator, **body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]
    assert set(error) == {"message", "type", "param", "code"}


def test_an_input_over_the_models_window_is_refused(emulator: RunningServer) -> None:
    with pytest.raises(BadRequestError, match="maximum context length is 8192 tokens"):
        sdk(emulator).embeddings.create(model="text-embedding-3-small", input=[list(range(8193))])


def test_scripted_faults_apply_to_embeddings(emulator: RunningServer) -> None:
    script(emulator, "text-embedding-3-small", outcomes=["429", "500"])
    limited = post(emulator, model="text-embedding-3-small", input="a")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    assert post(emulator, model="text-embedding-3-small", input="a").status_code == 500
    assert post(emulator, model="text-embedding-3-small", input="a").status_code == 200


def test_vllm_dialect_adds_an_id_and_a_zero_completion_count(serve_in_thread: Servers) -> None:
    server = serve_in_thread(build_emulator(dialect="vllm"), name="vllm-emulator")
    answer = post(server, model="BAAI/bge-m3", input="a").json()
    assert answer["id"].startswith("embd-") and answer["usage"]["completion_tokens"] == 0
    assert len(answer["data"][0]["embedding"]) == 1536
