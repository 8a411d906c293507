"""Valid JSON the gateway cannot carry (too deep, too large, not finite) is a 4xx naming the field, never a 5xx."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from gwtest.harness import Gateway

OK_MSG = [{"role": "user", "content": "hi"}]
# Between what orjson parses (1,024) and what it serializes (254): this used to pass validation and fail later.
DEPTH = 300


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _deep_body(route: str) -> str:
    """A body valid for ``route`` except for one field nested ``DEPTH`` levels."""
    deep = _nested(DEPTH)
    bodies = {
        "/v1/chat/completions": f'{{"model": "fake/echo", "messages": [{{"role": "user", "content": "hi"}}], '
        f'"metadata": {{"x": {deep}}}}}',
        "/v1/responses": f'{{"model": "fake/echo", "input": "hi", "metadata": {{"x": {deep}}}}}',
        "/v1/chat/compare": f'{{"models": ["fake/echo", "fake/free-echo"], "messages": [{{"role": "user", '
        f'"content": "hi"}}], "x": {deep}}}',
        "/v1/templates": f'{{"name": "deep", "params": {{"x": {deep}}}}}',
        "/v1/files": f'{{"purpose": "batch", "requests": [{{"custom_id": "a", "body": {{"model": "fake/echo", '
        f'"messages": [{{"role": "user", "content": "hi"}}], "x": {deep}}}}}]}}',
        "/v1/batches": f'{{"endpoint": "/v1/chat/completions", "requests": [{{"custom_id": "a", "body": '
        f'{{"model": "fake/echo", "messages": [{{"role": "user", "content": "hi"}}], "x": {deep}}}}}]}}',
    }
    return bodies[route]


def _assert_422(r: httpx.Response, type_: str, loc_prefix: list[Any]) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"]["code"] == "validation_error"
    detail = body["error"]["details"][0]
    assert detail["type"] == type_, body
    assert detail["loc"][: len(loc_prefix)] == loc_prefix, body
    return body


@pytest.mark.parametrize(
    "route", ["/v1/chat/completions", "/v1/responses", "/v1/chat/compare", "/v1/templates", "/v1/files", "/v1/batches"]
)
def test_nesting_past_the_cap_is_422_on_every_json_route(gateway: Gateway, key: str, route: str) -> None:
    with gateway.client(key) as c:
        r = c.post(route, content=_deep_body(route), headers={"content-type": "application/json"})
    body = _assert_422(r, "too_deep", ["body"])
    assert len(body["error"]["details"][0]["loc"]) > 2  # the path names the field that nests


def test_depth_at_the_cap_is_accepted(gateway: Gateway, key: str) -> None:
    # The body itself is level 1: 63 lists under "metadata" reach the cap (64) exactly.
    body = f'{{"model": "fake/echo", "messages": [{{"role": "user", "content": "hi"}}], "metadata": {_nested(63)}}}'
    with gateway.client(key) as c:
        r = c.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        r = c.post(
            "/v1/chat/completions",
            content=body.replace(_nested(63), _nested(64)),
            headers={"content-type": "application/json"},
        )
        _assert_422(r, "too_deep", ["body", "metadata"])


def test_deep_line_in_a_multipart_batch_file_is_a_listed_problem(gateway: Gateway, key: str) -> None:
    line = (
        f'{{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {{"model": "fake/echo", '
        f'"messages": [{{"role": "user", "content": "hi"}}], "x": {_nested(DEPTH)}}}}}'
    ).encode()
    with gateway.client(key) as c:
        r = c.post("/v1/files", files={"file": ("deep.jsonl", line)}, data={"purpose": "batch"})
    assert r.status_code == 400, r.text
    problem = r.json()["error"]["details"][0]
    assert problem["type"] == "too_deep" and problem["field"].startswith("body.x")


@pytest.mark.parametrize("field", ["rpm", "rpd", "tpm"])
@pytest.mark.parametrize("value", [2**31, 2**63, 2**64 - 1])
def test_key_limits_beyond_storage_are_422(gateway: Gateway, field: str, value: int) -> None:
    with gateway.client(gateway.token("bounds-keys")) as c:
        r = c.post("/v1/keys", json={"name": "big", field: value})
        _assert_422(r, "less_than_equal", ["body", field])
        created = c.post("/v1/keys", json={"name": "ok", field: 2**31 - 1})
        assert created.status_code == 201, created.text
        r = c.patch(f"/v1/keys/{created.json()['id']}", json={field: value})
        _assert_422(r, "less_than_equal", ["body", field])


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("value", ["inf", "-inf", "1e308", "nan", "1e300", "-1", "infinity"])
def test_time_filters_that_overflow_are_422(gateway: Gateway, key: str, name: str, value: str) -> None:
    with gateway.client(key) as c:
        r = c.get("/v1/usage", params={name: value})
    _assert_422(r, "value_error", ["body", name])


def test_usage_events_since_that_overflows_is_422(gateway: Gateway, key: str) -> None:
    with gateway.client(key) as c:
        r = c.post("/v1/usage/events", json={"since": 1e308})
        _assert_422(r, "value_error", ["body", "since"])
        assert c.post("/v1/usage/events", json={"since": "2026-01-01T00:00:00Z"}).status_code == 200


@pytest.mark.parametrize("route", ["/v1/usage", "/v1/files", "/v1/batches"])
@pytest.mark.parametrize("value", ["²", "١٢", "\uff15", "99999999999999999999999"])
def test_limit_with_non_ascii_or_huge_digits_is_422(gateway: Gateway, key: str, route: str, value: str) -> None:
    with gateway.client(key) as c:
        r = c.get(route, params={"limit": value})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["loc"] == ["query", "limit"]
