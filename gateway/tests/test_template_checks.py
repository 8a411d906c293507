"""Template ``params`` and ``messages`` follow the chat request's rules, at creation and after rendering."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from gwtest.harness import FakeUpstream, Gateway
from meshapi_gateway.store import db
from meshapi_gateway.templates import store

OWNER = "tpl-checks"


def _assert_422(r: Any, loc: list[Any]) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"]["code"] == "validation_error"
    assert any(d["loc"][: len(loc)] == loc for d in body["error"]["details"]), body


@pytest.mark.parametrize(
    "fields,loc",
    [
        ({"params": {"max_tokens": -5}}, ["body", "params", "max_tokens"]),
        ({"params": {"temperature": "hot"}}, ["body", "params", "temperature"]),
        ({"params": {"n": 3}}, ["body", "params", "n"]),
        ({"params": {"tools": [{"type": "function", "function": {}}]}}, ["body", "params", "tools", 0]),
        ({"params": {"messages": [{"role": "user", "content": "x"}]}}, ["body", "params", "messages"]),
        ({"messages": [{"role": "robot", "content": "x"}]}, ["body", "messages", 0, "role"]),
        ({"messages": [{"role": "user", "content": [{"text": "no type"}]}]}, ["body", "messages", 0, "content"]),
    ],
)
def test_bad_params_and_messages_are_refused_at_creation(
    gateway: Gateway, fields: dict[str, Any], loc: list[Any]
) -> None:
    with gateway.client(gateway.token(OWNER)) as c:
        _assert_422(c.post("/v1/templates", json={"name": "bad", **fields}), loc)
        ok = c.post(
            "/v1/templates",
            json={
                "name": f"ok-{loc[-1]}-{len(fields)}",
                "params": {"max_tokens": 5},
                "messages": [{"role": "user", "content": "{{q}}"}],
            },
        )
        assert ok.status_code in (201, 409), ok.text
        template_id = ok.json()["id"] if ok.status_code == 201 else None
        if template_id:
            _assert_422(c.patch(f"/v1/templates/{template_id}", json=fields), loc)


def _store_unchecked(gw: Gateway, name: str, fields: dict[str, Any]) -> str:
    """A template written straight to the table, as one stored before the checks existed would be."""

    async def run() -> str:
        engine = db.make_engine(gw.settings.resolved_database_url())
        try:
            async with db.sessionmaker(engine)() as session:
                return (await store.create(session, OWNER, name, fields)).id
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.mark.parametrize(
    "params,field",
    [({"max_tokens": -5}, "max_tokens"), ({"temperature": "hot"}, "temperature"), ({"top_p": [1]}, "top_p")],
)
def test_a_stored_bad_template_is_refused_after_rendering(
    gateway: Gateway, fake_openai: FakeUpstream, params: dict[str, Any], field: str
) -> None:
    _store_unchecked(gateway, f"legacy-{field}", {"params": params})
    key = gateway.create_key(OWNER)
    before = len(fake_openai.recorder.requests)
    with gateway.client(key) as c:
        for route, body in [
            (
                "/v1/chat/completions",
                {"model": "fake/echo", "template": f"legacy-{field}", "messages": [{"role": "user", "content": "hi"}]},
            ),
            ("/v1/responses", {"model": "fake/echo", "template": f"legacy-{field}", "input": "hi"}),
            (
                "/v1/chat/compare",
                {
                    "models": ["fake/echo"],
                    "template": f"legacy-{field}",
                    "messages": [{"role": "user", "content": "hi"}],
                },
            ),
        ]:
            r = c.post(route, json=body)
            _assert_422(r, ["body", field])
    assert len(fake_openai.recorder.requests) == before  # nothing reached the upstream


def test_request_values_still_win_over_template_params(gateway: Gateway, fake_openai: FakeUpstream) -> None:
    with gateway.client(gateway.token(OWNER)) as c:
        assert (
            c.post(
                "/v1/templates",
                json={"name": "fine", "params": {"max_tokens": 7, "temperature": 0.5}, "system": "Be {{tone}}."},
            ).status_code
            == 201
        )
    with gateway.client(gateway.create_key(OWNER)) as c:
        r = c.post(
            "/v1/chat/completions",
            json={
                "model": "fake/echo",
                "template": "fine",
                "temperature": 1,
                "variables": {"tone": "brief"},
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
    assert r.status_code == 200, r.text
    sent = fake_openai.recorder.requests[-1]["body"]
    assert sent["max_tokens"] == 7 and sent["temperature"] == 1
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
