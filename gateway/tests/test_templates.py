"""Prompt templates end to end: CRUD over HTTP and the SDK, global templates, and rendering into chat."""

from __future__ import annotations

import json
import uuid
from typing import Any, Callable

import pytest
from gwtest.accounts_support import ADMIN
from gwtest.harness import FakeUpstream, Gateway


@pytest.fixture(scope="module")
def tgw(gateway_factory_module: Callable[..., Gateway]) -> Gateway:
    return gateway_factory_module(admin_token=ADMIN)


@pytest.fixture(scope="module")
def gateway_factory_module(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> Any:
    from gwtest.harness import start_gateway

    started: list[Gateway] = []

    def factory(**overrides: Any) -> Gateway:
        gw = start_gateway(tmp_path_factory.mktemp("tpl"), fake_openai.url, **overrides)
        started.append(gw)
        return gw

    yield factory
    for gw in started:
        gw.server.stop()


def _create(gw: Gateway, token: str, **fields: Any) -> dict[str, Any]:
    with gw.client(token) as c:
        r = c.post("/v1/templates", json=fields)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_readme_flow_with_the_sdk(tgw: Gateway, fake_openai: FakeUpstream) -> None:
    from meshapi import ChatCompletionParams, ChatMessage, CreateTemplateParams, MeshAPI, UpdateTemplateParams

    ctrl = MeshAPI(base_url=tgw.url, token=tgw.token("tpl-readme"))
    created = ctrl.templates.create(
        CreateTemplateParams(
            name="support-agent",
            system="You are a support agent for {{company}}. Be concise and friendly.",
            model="fake/echo",
            variables=["company"],
        )
    )
    assert created.is_global is False and created.owner == "tpl-readme"
    uuid.UUID(created.id)
    client = MeshAPI(base_url=tgw.url, token=tgw.create_key("tpl-readme"))
    reply = client.chat.completions.create(
        ChatCompletionParams(
            messages=[ChatMessage(role="user", content="How do I reset my password?")],
            template="support-agent",
            variables={"company": "Acme Corp"},
        )
    )
    assert reply.choices[0].message.content == "echo: How do I reset my password?"
    sent = fake_openai.recorder.last()["body"]
    assert sent["model"] == "echo"
    assert sent["messages"] == [
        {"role": "system", "content": "You are a support agent for Acme Corp. Be concise and friendly."},
        {"role": "user", "content": "How do I reset my password?"},
    ]
    assert "template" not in sent and "variables" not in sent
    listed = ctrl.templates.list()
    assert [t.id for t in listed] == [created.id]
    assert ctrl.templates.get(created.id).name == "support-agent"
    updated = ctrl.templates.update(created.id, UpdateTemplateParams(model="fake/free-echo"))
    assert updated.model == "fake/free-echo" and updated.system == created.system
    assert updated.updated_at is not None and updated.updated_at > created.updated_at
    client.chat.completions.create(
        ChatCompletionParams(
            messages=[ChatMessage(role="user", content="again")],
            template="support-agent",
            variables={"company": "Acme"},
        )
    )
    assert fake_openai.recorder.last()["body"]["model"] == "echo"  # the change is used at once (same upstream name)
    assert ctrl.templates.delete(created.id) is None
    assert ctrl.templates.list() == []


def test_crud_wire_shapes(tgw: Gateway) -> None:
    token = tgw.token("tpl-wire")
    key = tgw.create_key("tpl-wire")
    first = _create(
        tgw,
        token,
        name="first",
        description="d",
        messages=[{"role": "user", "content": "x {{a}}"}],
        params={"temperature": 0.2},
        variables=["a"],
    )
    second = _create(tgw, key, name="second")  # an rsk key of the same owner works too
    for field in (
        "id",
        "name",
        "owner",
        "is_global",
        "description",
        "system",
        "messages",
        "model",
        "params",
        "variables",
        "created_at",
        "updated_at",
    ):
        assert field in first
    assert first["created_at"].endswith("Z") and "T" in first["created_at"]
    with tgw.client(key) as c:
        listed = c.get("/v1/templates").json()
        assert isinstance(listed, list)
        assert [t["id"] for t in listed] == [second["id"], first["id"]]  # newest first
        dup = c.post("/v1/templates", json={"name": "first"})
        assert dup.status_code == 409 and dup.json()["error"]["code"] == "conflict"
        rename = c.patch(f"/v1/templates/{second['id']}", json={"name": "first"})
        assert rename.status_code == 409
        patched = c.patch(f"/v1/templates/{first['id']}", json={"description": None, "system": "s"}).json()
        assert patched["description"] is None and patched["system"] == "s" and patched["params"] == {"temperature": 0.2}
        r = c.delete(f"/v1/templates/{first['id']}")
        assert r.status_code == 204 and r.content == b""
        for bad in (first["id"], str(uuid.uuid4()), "not-a-uuid"):
            for method in ("GET", "PATCH", "DELETE"):
                r = c.request(method, f"/v1/templates/{bad}", json={} if method == "PATCH" else None)
                assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", (method, bad)
        bad_body = c.post("/v1/templates", json={"description": "no name"})
        assert bad_body.status_code == 422 and bad_body.json()["error"]["details"][0]["loc"] == ["body", "name"]
        bad_role = c.post("/v1/templates", json={"name": "r", "messages": [{"role": "robot", "content": "x"}]})
        assert bad_role.status_code == 422
    with tgw.client() as c:
        assert c.get("/v1/templates").status_code == 401


def test_global_templates(tgw: Gateway, fake_openai: FakeUpstream) -> None:
    glob = _create(tgw, ADMIN, name="greeter-global", system="Greet {{who}}.", model="fake/echo")
    assert glob["is_global"] is True and glob["owner"] is None
    own = _create(tgw, tgw.token("tpl-glob"), name="mine")
    key = tgw.create_key("tpl-glob")
    with tgw.client(key) as c:
        ids = [t["id"] for t in c.get("/v1/templates").json()]
        assert own["id"] in ids and glob["id"] in ids
        assert c.get(f"/v1/templates/{glob['id']}").json()["is_global"] is True
        r = c.patch(f"/v1/templates/{glob['id']}", json={"system": "hijack"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert c.delete(f"/v1/templates/{glob['id']}").status_code == 403
        chat = c.post(
            "/v1/chat/completions",
            json={
                "template": "greeter-global",
                "variables": {"who": "Ann"},
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
        assert chat.status_code == 200, chat.text
    # An owner's own template of the same name wins over the global one.
    _create(tgw, key, name="greeter-global", system="Own {{who}}.", model="fake/echo")
    with tgw.client(key) as c:
        c.post(
            "/v1/chat/completions",
            json={
                "template": "greeter-global",
                "variables": {"who": "Ann"},
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
    assert fake_openai.recorder.last()["body"]["messages"][0]["content"] == "Own Ann."
    with tgw.client(ADMIN) as c:
        assert c.patch(f"/v1/templates/{glob['id']}", json={"system": "Hello {{who}}!"}).status_code == 200
        assert c.delete(f"/v1/templates/{glob['id']}").status_code == 204


def test_rendering_rules(tgw: Gateway, fake_openai: FakeUpstream) -> None:
    key = tgw.create_key("tpl-render")
    _create(
        tgw,
        key,
        name="full",
        system="Sys {{ company }} / {{tone}}",
        messages=[
            {"role": "user", "content": "Example about {{topic}}"},
            {"role": "assistant", "content": "Noted {{ topic }}."},
        ],
        model="fake/echo",
        params={"temperature": 0.3, "max_tokens": 50, "top_p": 0.9},
    )
    with tgw.client(key) as c:
        r = c.post(
            "/v1/chat/completions",
            json={
                "template": "full",
                "variables": {"company": "Acme", "tone": "dry", "topic": "pay", "extra": "ignored"},
                "messages": [{"role": "user", "content": "real question"}],
                "temperature": 1.1,
            },
        )
        assert r.status_code == 200, r.text
        sent = fake_openai.recorder.last()["body"]
        assert [m["content"] for m in sent["messages"]] == [
            "Sys Acme / dry",
            "Example about pay",
            "Noted pay.",
            "real question",
        ]
        assert sent["temperature"] == 1.1 and sent["max_tokens"] == 50 and sent["top_p"] == 0.9
        # Explicit model beats the template's; streams render too.
        r = c.post(
            "/v1/chat/completions",
            json={
                "template": "full",
                "variables": {"company": "A", "tone": "t", "topic": "x"},
                "model": "fake/free-echo",
                "stream": True,
                "messages": [{"role": "user", "content": "q"}],
            },
        )
        assert r.status_code == 200 and "data: [DONE]" in r.text
        payloads = [json.loads(line[6:]) for line in r.text.split("\n") if line.startswith("data: {")]
        assert payloads[0]["model"] == "fake/free-echo"
        assert fake_openai.recorder.last()["body"]["messages"][0]["content"] == "Sys A / t"
        # A missing variable is a 422 that names it.
        r = c.post(
            "/v1/chat/completions",
            json={"template": "full", "variables": {"company": "A"}, "messages": [{"role": "user", "content": "q"}]},
        )
        assert r.status_code == 422
        err = r.json()["error"]
        assert err["code"] == "unprocessable_entity"
        assert {d["loc"][-1] for d in err["details"]} == {"tone", "topic"}
        # Unknown templates (by name or id) are 404 not_found.
        for ref in ("no-such-template", str(uuid.uuid4())):
            r = c.post("/v1/chat/completions", json={"template": ref, "messages": [{"role": "user", "content": "q"}]})
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_template_by_id_and_without_request_messages(tgw: Gateway, fake_openai: FakeUpstream) -> None:
    key = tgw.create_key("tpl-id")
    tpl = _create(
        tgw, key, name="only-messages", messages=[{"role": "user", "content": "Tell me about {{x}}"}], model="fake/echo"
    )
    with tgw.client(key) as c:
        r = c.post("/v1/chat/completions", json={"template": tpl["id"], "variables": {"x": "owls"}})
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == "echo: Tell me about owls"


def test_changes_reach_another_replica_within_the_cache_ttl(
    gateway_factory_module: Callable[..., Gateway], tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream
) -> None:
    import time

    database_url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('tpl-shared') / 'gw.db'}"
    one = gateway_factory_module(database_url=database_url, template_cache_seconds=0.5)
    two = gateway_factory_module(database_url=database_url, template_cache_seconds=0.5)
    key = one.create_key("tpl-replica")
    tpl = _create(one, key, name="shared", system="v1", model="fake/echo")
    body = {"template": "shared", "messages": [{"role": "user", "content": "q"}]}
    with two.client(key) as c:
        assert c.post("/v1/chat/completions", json=body).status_code == 200
        assert fake_openai.recorder.last()["body"]["messages"][0]["content"] == "v1"
        with one.client(key) as c1:
            assert c1.patch(f"/v1/templates/{tpl['id']}", json={"system": "v2"}).status_code == 200
        deadline = time.monotonic() + 5
        while True:
            assert c.post("/v1/chat/completions", json=body).status_code == 200
            if fake_openai.recorder.last()["body"]["messages"][0]["content"] == "v2":
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_templates_on_both_databases(
    gateway_factory: Callable[..., Gateway], database_url: str, fake_openai: FakeUpstream
) -> None:
    gw = gateway_factory(database_url=database_url, admin_token=ADMIN)
    key = gw.create_key("tpl-db")
    tpl = _create(gw, key, name="db", system="Hi {{n}}", model="fake/echo", params={"max_tokens": 7})
    glob = _create(gw, ADMIN, name="db", system="global")  # same name, other owner (global): allowed
    with gw.client(key) as c:
        assert c.post("/v1/templates", json={"name": "db"}).status_code == 409
        r = c.post(
            "/v1/chat/completions",
            json={"template": "db", "variables": {"n": "Bo"}, "messages": [{"role": "user", "content": "q"}]},
        )
        assert r.status_code == 200
        assert fake_openai.recorder.last()["body"]["messages"][0]["content"] == "Hi Bo"
        assert fake_openai.recorder.last()["body"]["max_tokens"] == 7
        assert [t["id"] for t in c.get("/v1/templates").json()] == [glob["id"], tpl["id"]]
        assert c.delete(f"/v1/templates/{tpl['id']}").status_code == 204
