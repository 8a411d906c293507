"""Template versions over HTTP: every update is a version, versions are listed and read, an earlier
one can be made active again, chat can pin one (``name@N``); templates shared with a team.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
from gwtest.accounts_support import ADMIN
from gwtest.harness import FakeUpstream, Gateway

CHAT: dict[str, Any] = {"model": "fake/echo", "variables": {"x": "X"}}


@pytest.fixture(scope="module")
def vgw(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> Any:
    from gwtest.harness import start_gateway

    gw = start_gateway(tmp_path_factory.mktemp("tplv"), fake_openai.url, admin_token=ADMIN, template_cache_seconds=0)
    yield gw
    gw.server.stop()


def _system_sent(fake: FakeUpstream) -> str:
    return str(fake.recorder.last()["body"]["messages"][0]["content"])


def test_every_update_is_a_version_and_one_can_be_made_active_again(
    gateway_factory: Callable[..., Gateway], database_url: str, fake_openai: FakeUpstream
) -> None:
    gw = gateway_factory(database_url=database_url, admin_token=ADMIN, template_cache_seconds=0)
    token = gw.token("v-ann")
    with gw.client(token) as c:
        made = c.post("/v1/templates", json={"name": "greet", "system": "one {{x}}"}).json()
        assert (made["version"], made["latest_version"]) == (1, 1)
        tid = made["id"]
        two = c.patch(f"/v1/templates/{tid}", json={"system": "two {{x}}"}).json()
        assert (two["version"], two["latest_version"], two["system"]) == (2, 2, "two {{x}}")
        listed = c.get(f"/v1/templates/{tid}/versions").json()["data"]
        assert [(v["version"], v["system"], v["active"]) for v in listed] == [
            (2, "two {{x}}", True),
            (1, "one {{x}}", False),
        ]
        assert listed[0]["created_by"] == "v-ann" and listed[0]["object"] == "template.version"
        one = c.get(f"/v1/templates/{tid}/versions/1").json()
        assert (one["version"], one["system"], one["active"]) == (1, "one {{x}}", False)
        assert c.get(f"/v1/templates/{tid}/versions/7").status_code == 404
        assert c.get(f"/v1/templates/{tid}/versions/x").status_code == 404
        back = c.post(f"/v1/templates/{tid}/versions/1/activate").json()
        assert (back["version"], back["latest_version"], back["system"]) == (1, 2, "one {{x}}")
        assert c.get(f"/v1/templates/{tid}").json()["system"] == "one {{x}}"
        three = c.patch(f"/v1/templates/{tid}", json={"description": "d"}).json()
        assert (three["version"], three["system"], three["description"]) == (3, "one {{x}}", "d")
    key = gw.create_key("v-ann")
    with gw.client(key) as c:
        for ref, expected in (("greet", "one X"), ("greet@2", "two X"), (f"{tid}@2", "two X"), ("greet@1", "one X")):
            r = c.post(
                "/v1/chat/completions", json={**CHAT, "template": ref, "messages": [{"role": "user", "content": "hi"}]}
            )
            assert r.status_code == 200, (ref, r.text)
            assert _system_sent(fake_openai) == expected, ref
        r = c.post("/v1/chat/completions", json={**CHAT, "template": "greet@9"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    with gw.client(gw.token("v-bob")) as c:  # another owner sees none of it
        assert c.get(f"/v1/templates/{tid}/versions").status_code == 404
        assert c.post(f"/v1/templates/{tid}/versions/1/activate").status_code == 404


def test_a_team_template_is_shared_and_only_its_owner_and_team_admins_change_it(
    vgw: Gateway, fake_openai: FakeUpstream
) -> None:
    with vgw.client(ADMIN) as c:
        team = c.post("/v1/teams", json={"members": {"s-ann": "member", "s-bob": "member", "s-cat": "admin"}}).json()[
            "id"
        ]
    with vgw.client(vgw.token("s-ann")) as c:
        made = c.post("/v1/templates", json={"name": "shared", "system": "team {{x}}", "team_id": team})
        assert made.status_code == 201, made.text
        tid = made.json()["id"]
        assert made.json()["team_id"] == team
        r = c.post("/v1/templates", json={"name": "elsewhere", "team_id": "team_other"})
        assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["body", "team_id"]
    with vgw.client(vgw.token("s-bob")) as c:
        assert tid in [t["id"] for t in c.get("/v1/templates").json()]
        assert c.get(f"/v1/templates/{tid}/versions").status_code == 200
        for method, path, body in (
            ("PATCH", f"/v1/templates/{tid}", {"system": "mine"}),
            ("DELETE", f"/v1/templates/{tid}", None),
            ("POST", f"/v1/templates/{tid}/versions/1/activate", None),
        ):
            r = c.request(method, path, json=body)
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", (method, r.text)
    with vgw.client(vgw.create_key("s-bob")) as c:
        r = c.post(
            "/v1/chat/completions", json={**CHAT, "template": "shared", "messages": [{"role": "user", "content": "hi"}]}
        )
        assert r.status_code == 200 and _system_sent(fake_openai) == "team X"
    with vgw.client(vgw.token("s-cat")) as c:  # a team admin changes it
        changed = c.patch(f"/v1/templates/{tid}", json={"system": "admin {{x}}"})
        assert changed.status_code == 200 and changed.json()["version"] == 2
        assert c.get(f"/v1/templates/{tid}/versions").json()["data"][0]["created_by"] == "s-cat"
    with vgw.client(vgw.token("s-dan")) as c:  # not a member
        assert c.get(f"/v1/templates/{tid}").status_code == 404
        assert tid not in c.get("/v1/templates").text
    with vgw.client(vgw.create_key("s-dan")) as c:
        assert c.post("/v1/chat/completions", json={**CHAT, "template": "shared"}).status_code == 404
