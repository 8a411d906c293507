"""Every kind of bad input gets the documented envelope, the right status, and goes nowhere upstream."""

from __future__ import annotations

from typing import Any

import pytest

from gwtest.harness import FakeUpstream, Gateway

OK_MSG = [{"role": "user", "content": "hi"}]


def _post(gw: Gateway, key: str, body: Any = None, **kw: Any) -> Any:
    with gw.client(key) as c:
        if body is not None:
            return c.post("/v1/chat/completions", json=body, **kw)
        return c.post("/v1/chat/completions", **kw)


def _assert_envelope(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert body["request_id"] == r.headers["x-request-id"]
    return body


@pytest.mark.parametrize(
    "field,value",
    [
        ("temperature", 2.5),
        ("temperature", -0.1),
        ("top_p", 1.5),
        ("max_tokens", 0),
        ("frequency_penalty", 3),
        ("presence_penalty", -2.5),
        ("user", "u" * 257),
        ("temperature", "hot"),
        ("stream", "yes"),
    ],
)
def test_out_of_range_fields_name_the_field(
    gateway: Gateway, key: str, fake_openai: FakeUpstream, field: str, value: Any
) -> None:
    before = len(fake_openai.recorder.requests)
    body = _assert_envelope(
        _post(gateway, key, {"model": "fake/echo", "messages": OK_MSG, field: value}), 422, "validation_error"
    )
    assert any(d["loc"] == ["body", field] for d in body["error"]["details"]), body
    assert len(fake_openai.recorder.requests) == before  # nothing forwarded


def test_bad_role(gateway: Gateway, key: str) -> None:
    body = _assert_envelope(
        _post(gateway, key, {"model": "fake/echo", "messages": [{"role": "robot", "content": "x"}]}),
        422,
        "validation_error",
    )
    assert body["error"]["details"][0]["loc"][:4] == ["body", "messages", 0, "role"]


def test_empty_and_missing_messages(gateway: Gateway, key: str) -> None:
    body = _assert_envelope(_post(gateway, key, {"model": "fake/echo", "messages": []}), 422, "validation_error")
    assert body["error"]["details"][0]["loc"] == ["body", "messages"]
    body = _assert_envelope(_post(gateway, key, {"model": "fake/echo"}), 422, "validation_error")
    assert body["error"]["details"][0]["loc"] == ["body", "messages"]


def test_malformed_json_and_non_object(gateway: Gateway, key: str) -> None:
    r = _post(
        gateway, key, content=b'{"model": "fake/echo", "messages": [', headers={"content-type": "application/json"}
    )
    body = _assert_envelope(r, 422, "validation_error")
    assert body["error"]["details"][0]["type"] == "json_invalid"
    _assert_envelope(_post(gateway, key, [1, 2, 3]), 422, "validation_error")
    _assert_envelope(
        _post(gateway, key, content=b"", headers={"content-type": "application/json"}), 422, "validation_error"
    )


def test_oversize_body_is_413(gateway_factory: Any) -> None:
    gw = gateway_factory(max_body_bytes=2048)
    key = gw.create_key("big")
    big = {"model": "fake/echo", "messages": [{"role": "user", "content": "x" * 5000}]}
    _assert_envelope(_post(gw, key, big), 413, "payload_too_large")


def test_unknown_model_and_missing_model(gateway: Gateway, key: str) -> None:
    body = _assert_envelope(_post(gateway, key, {"model": "nope/none", "messages": OK_MSG}), 404, "model_not_found")
    assert body["error"]["message"] == "Model 'nope/none' is not supported."
    body = _assert_envelope(_post(gateway, key, {"messages": OK_MSG}), 422, "validation_error")
    assert body["error"]["details"][0]["loc"] == ["body", "model"]


def test_unknown_route_and_method(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        _assert_envelope(c.get("/v1/nothing-here"), 404, "not_found")
        _assert_envelope(c.get("/v1/chat/completions"), 405, "method_not_allowed")
        _assert_envelope(c.delete("/v1/models"), 405, "method_not_allowed")


def test_invalid_request_is_not_forwarded_even_when_streaming(
    gateway: Gateway, key: str, fake_openai: FakeUpstream
) -> None:
    before = len(fake_openai.recorder.requests)
    r = _post(gateway, key, {"model": "fake/echo", "stream": True, "messages": OK_MSG, "top_p": 9})
    _assert_envelope(r, 422, "validation_error")  # a real HTTP status, not an SSE frame
    assert len(fake_openai.recorder.requests) == before


def test_upstream_error_statuses(gateway: Gateway, key: str) -> None:
    body = _assert_envelope(_post(gateway, key, {"model": "fake/fail-500", "messages": OK_MSG}), 500, "upstream_error")
    assert body["error"]["provider_error"]["error"]["message"] == "scripted failure 500"
    _assert_envelope(_post(gateway, key, {"model": "fake/fail-400", "messages": OK_MSG}), 422, "validation_error")
    r = _post(gateway, key, {"model": "fake/fail-500", "stream": True, "messages": OK_MSG})
    _assert_envelope(r, 500, "upstream_error")  # failure before the first byte: a real status
