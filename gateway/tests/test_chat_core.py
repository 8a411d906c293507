"""Chat completions through the real gateway against the fake OpenAI-compatible upstream."""

from __future__ import annotations

import json
from typing import Any, Iterator

import httpx

from gwtest.harness import FakeUpstream, Gateway


def sse_payloads(text: str) -> list[str]:
    assert "\r" not in text
    frames = text.split("\n\n")
    assert frames[-1] == ""  # every frame, the last included, ends with a blank line
    out = []
    for f in frames[:-1]:
        for line in f.split("\n"):
            if line.startswith("data: "):
                out.append(line[len("data: ") :])
    return out


def test_non_stream_echo(gateway: Gateway, key: str, fake_openai: FakeUpstream) -> None:
    with gateway.client(key) as c:
        r = c.post(
            "/v1/chat/completions",
            json={
                "model": "fake/echo",
                "messages": [{"role": "user", "content": "hi there"}],
                "temperature": 0.5,
                "custom_field": {"x": 1},
            },
        )
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["model"] == "fake/echo"
    assert data["choices"][0]["message"]["content"] == "echo: hi there"
    assert data["object"] == "chat.completion"
    assert isinstance(data["cost"], str)
    assert r.headers["x-request-id"].startswith("req_")
    sent = fake_openai.recorder.last()["body"]
    assert sent["model"] == "echo"  # the upstream's own name
    assert sent["custom_field"] == {"x": 1}  # unknown fields pass through
    assert sent["temperature"] == 0.5


def test_stream_frames_usage_and_done(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        r = c.post(
            "/v1/chat/completions",
            json={"model": "fake/echo", "stream": True, "messages": [{"role": "user", "content": "one two three"}]},
        )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    payloads = sse_payloads(r.text)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    text = "".join((ch["choices"][0]["delta"].get("content") or "") for ch in chunks if ch["choices"])
    assert text == "echo: one two three"
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] > 0
    assert isinstance(usage_chunk["cost"], str)
    assert all(ch["model"] == "fake/echo" for ch in chunks)


def test_stream_tool_call_is_one_whole_delta(gateway: Gateway, key: str) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    with gateway.client(key) as c:
        r = c.post(
            "/v1/chat/completions",
            json={
                "model": "fake/tools",
                "stream": True,
                "tools": tools,
                "messages": [{"role": "user", "content": "weather?"}],
            },
        )
    chunks = [json.loads(p) for p in sse_payloads(r.text)[:-1]]
    calls = [tc for ch in chunks if ch["choices"] for tc in (ch["choices"][0]["delta"].get("tool_calls") or [])]
    assert len(calls) == 1
    call = calls[0]
    assert call["index"] == 0 and call["id"] == "call_fake1" and call["type"] == "function"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris", "unit": "celsius"}
    finishes = [ch["choices"][0]["finish_reason"] for ch in chunks if ch["choices"]]
    assert finishes[-1] == "tool_calls"


def test_nonascii_is_escaped_in_sse(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        r = c.post(
            "/v1/chat/completions",
            json={"model": "fake/echo", "stream": True, "messages": [{"role": "user", "content": "héllo \u2028 😀"}]},
        )
    assert r.content.isascii()
    chunks = [json.loads(p) for p in sse_payloads(r.text)[:-1]]
    text = "".join((ch["choices"][0]["delta"].get("content") or "") for ch in chunks if ch["choices"])
    assert text == "echo: héllo \u2028 😀"


def test_stream_without_done_becomes_error_frame(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        r = c.post(
            "/v1/chat/completions",
            json={"model": "fake/nodone", "stream": True, "messages": [{"role": "user", "content": "a b"}]},
        )
    payloads = sse_payloads(r.text)
    assert payloads[-1] == "[DONE]"
    err = json.loads(payloads[-2])
    assert err["error"]["code"] == "upstream_error"


def test_upstream_cut_mid_stream_is_error_frame(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        r = c.post(
            "/v1/chat/completions",
            json={"model": "fake/cut-3", "stream": True, "messages": [{"role": "user", "content": "a b c d e f"}]},
        )
    payloads = sse_payloads(r.text)
    assert payloads[-1] == "[DONE]"
    assert "error" in json.loads(payloads[-2])


def test_fallback_to_next_model(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        r = c.post("/v1/chat/completions", json={"model": "fake/flaky", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 200
    assert r.json()["model"] == "fake/echo"
    assert r.headers["x-meshapi-fallback"] == "fake/flaky,fake/echo"


def test_request_models_list_fallback(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        r = c.post(
            "/v1/chat/completions",
            json={"model": "fake/fail-502", "models": ["fake/echo"], "messages": [{"role": "user", "content": "x"}]},
        )
    assert r.status_code == 200 and r.json()["model"] == "fake/echo"


def test_upstream_429_maps_to_rate_limit(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        r = c.post(
            "/v1/chat/completions", json={"model": "fake/fail-429", "messages": [{"role": "user", "content": "x"}]}
        )
    assert r.status_code == 429
    body = r.json()
    assert body["error"]["code"] == "rate_limit_exceeded"
    assert body["error"]["retry_after_seconds"] == 2
    assert r.headers["retry-after"] == "2"
    assert body["request_id"] == r.headers["x-request-id"]


def test_incoming_request_id_is_echoed(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        r = c.post(
            "/v1/chat/completions",
            headers={"x-request-id": "my-trace-1"},
            json={"model": "fake/nope", "messages": [{"role": "user", "content": "x"}]},
        )
    assert r.status_code == 404
    assert r.headers["x-request-id"] == "my-trace-1"
    assert r.json() == {
        "error": {"code": "model_not_found", "message": "Model 'fake/nope' is not supported."},
        "request_id": "my-trace-1",
    }


def test_accept_json_still_streams(gateway: Gateway, key: str) -> None:
    with httpx.Client(base_url=gateway.url, timeout=30) as c:
        r = c.post(
            "/v1/chat/completions",
            headers={"authorization": f"Bearer {key}", "accept": "application/json"},
            json={"model": "fake/echo", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        )
    assert r.headers["content-type"].startswith("text/event-stream")


def _answers_of_two_keys(gateway: Gateway, name: str, body: dict[str, Any]) -> Iterator[tuple[httpx.Response, bool]]:
    """Two answers each for a key without and with limits (the second from the headers kept per model)."""
    for key, limited in ((gateway.create_key(name), False), (gateway.create_key(f"{name}-rpm", rpm=50), True)):
        for _ in range(2):
            with gateway.client(key) as c:
                r = c.post("/v1/chat/completions", json=body)
            assert r.status_code == 200, r.text
            yield r, limited


def _names_and_limits(r: httpx.Response, limited: bool) -> tuple[list[str], list[str]]:
    names = [name.decode() for name, _ in r.headers.raw if name.lower() not in (b"date", b"server")]
    return names, (["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"] if limited else [])


def test_a_plain_answer_has_exactly_its_headers_in_order(gateway: Gateway, fake_openai: FakeUpstream) -> None:
    # The headers most answers end with are kept encoded per model (api/chat.py): the list the client
    # gets must stay what the dicts gave, limits first, for a key with and without limits.
    body = {"model": "fake/echo", "messages": [{"role": "user", "content": "hi"}]}
    for r, limited in _answers_of_two_keys(gateway, "plain-head", body):
        names, limits = _names_and_limits(r, limited)
        assert names == [
            "content-type",
            "content-length",
            *limits,
            "x-resolved-model-id",
            "x-meshapi-cache",
            "x-request-id",
            "x-content-type-options",
        ]
        assert r.headers["x-resolved-model-id"] == "fake/echo" and r.headers["x-meshapi-cache"] == "bypass"
        assert int(r.headers["content-length"]) == len(r.content)


def test_a_stream_has_exactly_its_headers_in_order(gateway: Gateway, fake_openai: FakeUpstream) -> None:
    # As for plain answers, a stream's usual head is kept encoded per model: the same list, limits first.
    body = {"model": "fake/echo", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    for r, limited in _answers_of_two_keys(gateway, "stream-head", body):
        names, limits = _names_and_limits(r, limited)
        assert names == [
            "content-type",
            "cache-control",
            "x-accel-buffering",
            *limits,
            "x-resolved-model-id",
            "x-meshapi-cache",
            "x-request-id",
            "x-content-type-options",
            "transfer-encoding",
        ]
        assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert r.headers["x-resolved-model-id"] == "fake/echo" and r.headers["x-meshapi-cache"] == "bypass"
        assert r.text.endswith("data: [DONE]\n\n")
