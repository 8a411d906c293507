"""The response cache over HTTP: exact hits per owner, control, TTL, stream replay, the ledger and the log."""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal
from typing import Any, Callable

import httpx
import pytest

from gwtest.harness import Gateway

ADMIN = "admin-" + "c" * 32


def _body(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "fake/echo", "messages": [{"role": "user", "content": text}], "cache": True, **extra}


def _post(gw: Gateway, key: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(
        gw.url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}", **headers}, timeout=30
    )


def _upstream_calls(fake: Any, marker: str) -> int:
    return sum(1 for r in fake.recorder.requests if marker in json.dumps(r))


def test_repeat_hits_and_costs_nothing(gateway_factory: Callable[..., Gateway], fake_openai: Any) -> None:
    gw = gateway_factory()
    key = gw.create_key("cache-a")
    marker = uuid.uuid4().hex
    first = _post(gw, key, _body(marker))
    again = _post(gw, key, {**_body(marker), "user": "someone", "metadata": {"x": 1}})
    assert first.status_code == again.status_code == 200
    assert first.headers["x-meshapi-cache"] == "miss" and again.headers["x-meshapi-cache"] == "hit"
    assert again.json()["choices"] == first.json()["choices"] and again.json()["id"] != first.json()["id"]
    assert first.json()["cost"] != "0" and again.json()["cost"] == "0"
    assert _upstream_calls(fake_openai, marker) == 1
    # Another parameter that shapes the answer is another entry.
    other = _post(gw, key, _body(marker, temperature=0.3))
    assert other.headers["x-meshapi-cache"] == "miss"
    # Without the cache field: not cached, and the answer says so.
    plain = _post(gw, key, {k: v for k, v in _body(marker).items() if k != "cache"})
    assert plain.headers["x-meshapi-cache"] == "bypass"
    assert _upstream_calls(fake_openai, marker) == 3


def test_two_owners_never_share(gateway_factory: Callable[..., Gateway], fake_openai: Any) -> None:
    gw = gateway_factory()
    alice, bob = gw.create_key("cache-alice"), gw.create_key("cache-bob")
    marker = uuid.uuid4().hex
    assert _post(gw, alice, _body(marker)).headers["x-meshapi-cache"] == "miss"
    assert _post(gw, bob, _body(marker)).headers["x-meshapi-cache"] == "miss"
    assert _post(gw, bob, _body(marker)).headers["x-meshapi-cache"] == "hit"
    assert _upstream_calls(fake_openai, marker) == 2


def _post_bytes(gw: Gateway, key: str, raw: bytes) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    return httpx.post(gw.url + "/v1/chat/completions", content=raw, headers=headers, timeout=30)


def test_same_bytes_other_spellings_and_templates(gateway_factory: Callable[..., Gateway], fake_openai: Any) -> None:
    """A request's bytes name its key only while the body is what they say: spellings still share an entry,
    owners still do not, and a template edited between two identical requests makes the second a miss."""
    gw = gateway_factory(admin_token=ADMIN)
    owner = "cache-bytes-" + uuid.uuid4().hex[:8]
    key, other = gw.create_key(owner), gw.create_key(owner + "-b")
    marker = uuid.uuid4().hex
    raw = json.dumps(_body(marker)).encode()
    assert _post_bytes(gw, key, raw).headers["x-meshapi-cache"] == "miss"
    assert _post_bytes(gw, key, raw).headers["x-meshapi-cache"] == "hit"
    respelled = json.dumps(dict(reversed(list(_body(marker).items()))), indent=1).encode()
    assert _post_bytes(gw, key, respelled).headers["x-meshapi-cache"] == "hit"
    assert _post_bytes(gw, other, raw).headers["x-meshapi-cache"] == "miss"
    assert _upstream_calls(fake_openai, marker) == 2

    with gw.client(gw.token(owner)) as c:
        made = c.post("/v1/templates", json={"name": "t-" + marker[:8], "system": "first", "model": "fake/echo"})
        assert made.status_code == 201, made.text
        templated = json.dumps(
            {"template": "t-" + marker[:8], "messages": [{"role": "user", "content": marker}], "cache": True}
        ).encode()
        assert _post_bytes(gw, key, templated).headers["x-meshapi-cache"] == "miss"
        assert _post_bytes(gw, key, templated).headers["x-meshapi-cache"] == "hit"
        assert c.patch(f"/v1/templates/{made.json()['id']}", json={"system": "second"}).status_code == 200
    assert _post_bytes(gw, key, templated).headers["x-meshapi-cache"] == "miss"


def test_cache_control_and_ttl(gateway_factory: Callable[..., Gateway], fake_openai: Any) -> None:
    gw = gateway_factory()
    key = gw.create_key("cache-ctl")
    marker = uuid.uuid4().hex
    assert _post(gw, key, _body(marker), **{"cache-control": "no-store"}).headers["x-meshapi-cache"] == "miss"
    assert _post(gw, key, _body(marker)).headers["x-meshapi-cache"] == "miss"  # nothing was stored
    assert _post(gw, key, _body(marker)).headers["x-meshapi-cache"] == "hit"
    assert _post(gw, key, _body(marker), **{"cache-control": "no-cache"}).headers["x-meshapi-cache"] == "bypass"
    assert _upstream_calls(fake_openai, marker) == 3

    short = uuid.uuid4().hex
    assert _post(gw, key, _body(short, cache={"ttl": 1})).headers["x-meshapi-cache"] == "miss"
    assert _post(gw, key, _body(short, cache={"ttl": 1})).headers["x-meshapi-cache"] == "hit"
    time.sleep(1.3)
    assert _post(gw, key, _body(short, cache={"ttl": 1})).headers["x-meshapi-cache"] == "miss"

    bad = _post(gw, key, _body(short, cache={"ttl": "soon"}))
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["loc"] == ["body", "cache"]


def _frames(r: httpx.Response) -> list[str]:
    return [line[6:] for line in r.text.split("\n") if line.startswith("data: ")]


def test_stream_replay_and_streams_stored(gateway_factory: Callable[..., Gateway], fake_openai: Any) -> None:
    gw = gateway_factory()
    key = gw.create_key("cache-stream")
    marker = uuid.uuid4().hex
    whole = _post(gw, key, _body(marker))
    replayed = _post(gw, key, _body(marker, stream=True))
    assert replayed.headers["x-meshapi-cache"] == "hit"
    frames = _frames(replayed)
    assert frames[-1] == "[DONE]"
    chunks = [json.loads(f) for f in frames[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == whole.json()["choices"][0]["message"]["content"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == whole.json()["usage"] and chunks[-1]["cost"] == "0"

    streamed_first = uuid.uuid4().hex
    miss = _post(gw, key, _body(streamed_first, stream=True))
    assert miss.headers["x-meshapi-cache"] == "miss"
    hit = _post(gw, key, _body(streamed_first))
    assert hit.headers["x-meshapi-cache"] == "hit"
    assert hit.json()["choices"][0]["message"]["content"].endswith(streamed_first)
    assert _upstream_calls(fake_openai, marker) == 1 and _upstream_calls(fake_openai, streamed_first) == 1


def test_tool_calls_only_when_asked(gateway_factory: Callable[..., Gateway], fake_openai: Any) -> None:
    gw = gateway_factory()
    key = gw.create_key("cache-tools")
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    marker = uuid.uuid4().hex
    body = _body(marker, model="fake/tools", tools=tools)
    assert _post(gw, key, body).headers["x-meshapi-cache"] == "miss"
    assert _post(gw, key, body).headers["x-meshapi-cache"] == "miss"
    asked = {**body, "cache": {"tool_calls": True}}
    assert _post(gw, key, asked).headers["x-meshapi-cache"] == "miss"
    hit = _post(gw, key, asked)
    assert hit.headers["x-meshapi-cache"] == "hit" and hit.json()["choices"][0]["message"]["tool_calls"]


def test_hit_in_ledger_and_request_log(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory(admin_token=ADMIN)
    key = gw.create_key("cache-books")
    marker = uuid.uuid4().hex
    _post(gw, key, _body(marker))
    hit = _post(gw, key, _body(marker))
    rid = hit.headers["x-request-id"]
    deadline = time.monotonic() + 20
    while True:
        rows = [
            r
            for r in httpx.get(gw.url + "/v1/usage", headers={"authorization": f"Bearer {key}"}).json()["data"]
            if r.get("request_id") == rid
        ]
        log = httpx.get(gw.url + f"/v1/logs/{rid}", headers={"authorization": f"Bearer {key}"})
        if (rows and log.status_code == 200) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert rows and rows[0]["kind"] == "chat.cache_hit" and Decimal(rows[0]["cost_usd"]) == 0
    assert log.json()["cache_status"] == "hit"


def test_key_defaults_and_hit_fraction(gateway_factory: Callable[..., Gateway], fake_openai: Any) -> None:
    gw = gateway_factory(cache={"hit_cost_fraction": "0.5", "models": {"fake/echo": {"ttl": 60}}})
    key = gw.create_key("cache-defaults")
    marker = uuid.uuid4().hex
    body = {"model": "fake/echo", "messages": [{"role": "user", "content": marker}]}
    first = _post(gw, key, body)
    hit = _post(gw, key, body)
    assert hit.headers["x-meshapi-cache"] == "hit"
    assert float(hit.json()["cost"]) * 2 == float(first.json()["cost"])
    assert _post(gw, key, {**body, "cache": False}).headers["x-meshapi-cache"] == "bypass"


def test_two_gateways_share_redis(
    gateway_factory: Callable[..., Gateway], redis_url: str, fake_openai: Any, tmp_path: Any
) -> None:
    from gwtest.gateway_process import GatewayProcess

    one = gateway_factory(redis_url=redis_url)
    other = GatewayProcess(
        tmp_path, fake_openai.url, redis_url=redis_url, database_url=one.settings.resolved_database_url()
    ).start()
    try:
        key = one.create_key("cache-shared")
        marker = uuid.uuid4().hex
        assert _post(one, key, _body(marker)).headers["x-meshapi-cache"] == "miss"
        second = httpx.post(
            other.url + "/v1/chat/completions",
            json=_body(marker),
            headers={"authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert second.status_code == 200 and second.headers["x-meshapi-cache"] == "hit"
        assert _upstream_calls(fake_openai, marker) == 1
    finally:
        other.stop()


def test_semantic_paraphrase_hits_and_survives_restart(
    gateway_factory: Callable[..., Gateway], fake_openai: Any, tmp_path: Any, redis_url: str
) -> None:
    import pytest

    from meshapi_gateway.providers.local_embeddings.model_files import runtime_available, shipped_model_dir

    if shipped_model_dir() is None or not runtime_available():
        pytest.skip("the local embeddings model is not installed")
    gw = gateway_factory(data_dir=str(tmp_path), redis_url=redis_url)
    key = gw.create_key("cache-semantic")
    asked = {"semantic": True}
    first = _post(gw, key, _body("What is the capital city of France?", cache=asked))
    assert first.headers["x-meshapi-cache"] == "miss"
    para = _post(gw, key, _body("What's the capital of France?", cache=asked))
    assert para.headers["x-meshapi-cache"] == "hit", para.headers
    assert float(para.headers["x-meshapi-cache-similarity"]) >= 0.9
    assert para.json()["choices"] == first.json()["choices"]
    other = _post(gw, key, _body("How do I bake sourdough bread at home?", cache=asked))
    assert other.headers["x-meshapi-cache"] == "miss"
    # Another owner's paraphrase does not reach this owner's prompts.
    bob = gw.create_key("cache-semantic-bob")
    assert _post(gw, bob, _body("What's the capital of France?", cache=asked)).headers["x-meshapi-cache"] == "miss"
    gw.server.stop()
    # The index is read back from the data folder; the answers were in Redis.
    again = gateway_factory(data_dir=str(tmp_path), redis_url=redis_url)
    after = _post(again, key, _body("What's the capital of France?", cache=asked))
    assert after.headers["x-meshapi-cache"] == "hit"


@pytest.mark.parametrize("int8", [True, False])
def test_semantic_similarity_comes_from_the_configured_graph(
    gateway_factory: Callable[..., Gateway], fake_openai: Any, int8: bool
) -> None:
    from meshapi_gateway.providers.local_embeddings.bert import MiniLMEncoder
    from meshapi_gateway.providers.local_embeddings.model_files import runtime_available, shipped_model_dir

    folder = shipped_model_dir()
    if folder is None or not runtime_available():
        pytest.skip("the local embeddings model is not installed")
    pytest.importorskip("onnxruntime")
    said, paraphrase = "What is the capital city of France?", "What's the capital of France?"
    encoder = MiniLMEncoder(folder)
    exact = float(encoder.encode([said])[0] @ encoder.encode([paraphrase])[0])
    quantized = float(encoder.encode([said], int8=True)[0] @ encoder.encode([paraphrase], int8=True)[0])
    assert abs(exact - quantized) > 0.002  # the header tells the two graphs apart
    gw = gateway_factory(cache={"semantic_int8": int8})
    key = gw.create_key("cache-graph")
    asked = {"semantic": True}
    assert _post(gw, key, _body(said, cache=asked)).headers["x-meshapi-cache"] == "miss"
    para = _post(gw, key, _body(paraphrase, cache=asked))
    assert para.headers["x-meshapi-cache"] == "hit", para.headers
    want = quantized if int8 else exact
    assert abs(float(para.headers["x-meshapi-cache-similarity"]) - want) < 0.001


def test_embeddings_and_responses_are_cached(gateway_factory: Callable[..., Gateway], fake_openai: Any) -> None:
    gw = gateway_factory()
    key = gw.create_key("cache-embed")
    headers = {"authorization": f"Bearer {key}"}
    marker = uuid.uuid4().hex
    body = {"model": "fake/embed", "input": marker, "cache": True}
    first = httpx.post(gw.url + "/v1/embeddings", json=body, headers=headers, timeout=30)
    again = httpx.post(gw.url + "/v1/embeddings", json=body, headers=headers, timeout=30)
    assert first.headers["x-meshapi-cache"] == "miss" and again.headers["x-meshapi-cache"] == "hit"
    assert again.json()["data"] == first.json()["data"]
    assert _upstream_calls(fake_openai, marker) == 1
    plain = httpx.post(gw.url + "/v1/embeddings", json={"model": "fake/embed", "input": marker}, headers=headers)
    assert plain.headers["x-meshapi-cache"] == "bypass"

    said = uuid.uuid4().hex
    asked = {"model": "fake/echo", "input": said, "cache": True}
    one = httpx.post(gw.url + "/v1/responses", json=asked, headers=headers, timeout=30)
    two = httpx.post(gw.url + "/v1/responses", json=asked, headers=headers, timeout=30)
    assert one.status_code == two.status_code == 200
    assert one.headers["x-meshapi-cache"] == "miss" and two.headers["x-meshapi-cache"] == "hit"
    assert two.json()["output"][0]["content"] == one.json()["output"][0]["content"]
    assert _upstream_calls(fake_openai, said) == 1


def test_local_model_repeat_hits_through_the_openai_client(gateway_factory: Callable[..., Gateway]) -> None:
    import openai
    import pytest

    from meshapi_gateway.providers.local.files import locate

    files = locate()
    if not files.available:
        pytest.skip(f"local model not installed: {files.missing}")
    gw = gateway_factory(local_model={"enabled": True})
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.create_key("cache-local"), timeout=120)
    asked = {
        "model": "local/smollm2-135m-instruct",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Name a colour."}],
        "extra_body": {"cache": True},
    }
    first = client.chat.completions.with_raw_response.create(**asked)  # type: ignore[call-overload]
    again = client.chat.completions.with_raw_response.create(**asked)  # type: ignore[call-overload]
    assert first.headers["x-meshapi-cache"] == "miss" and again.headers["x-meshapi-cache"] == "hit"
    assert again.parse().choices[0].message.content == first.parse().choices[0].message.content
    streamed = client.chat.completions.with_raw_response.create(**asked, stream=True)  # type: ignore[call-overload]
    assert streamed.headers["x-meshapi-cache"] == "hit"
    text = "".join(c.choices[0].delta.content or "" for c in streamed.parse() if c.choices)
    assert text == first.parse().choices[0].message.content


def test_redis_backend_needs_redis_url() -> None:
    import pytest

    from meshapi_gateway.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="redis_url"):
        load_settings(overrides={"cache": {"backend": "redis"}}, environ={})
