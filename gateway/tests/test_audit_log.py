"""The audit log (GET /v1/admin/audit): who created, changed, suspended or revoked keys, teams,
templates and credits, through the API and the CLI; admin only; never a key in it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import jwt
import pytest
from gwtest.accounts_support import ADMIN
from gwtest.harness import Gateway


@pytest.fixture(scope="module")
def agw(tmp_path_factory: pytest.TempPathFactory, fake_openai: Any) -> Any:
    from gwtest.harness import start_gateway

    gw = start_gateway(tmp_path_factory.mktemp("audit"), fake_openai.url, admin_token=ADMIN)
    yield gw
    gw.server.stop()


def _events(gw: Gateway, **params: str) -> list[dict[str, Any]]:
    with gw.client(ADMIN) as c:
        r = c.get("/v1/admin/audit", params=params)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


def test_control_plane_changes_are_audited(agw: Gateway) -> None:
    with agw.client(ADMIN) as c:
        team = c.post("/v1/teams", json={"name": "audited", "members": {"au-ann": "admin"}}).json()
        c.patch(f"/v1/teams/{team['id']}", json={"rpm": 5})
        assert c.post("/v1/admin/credits", json={"owner": "au-ann", "usd": "3", "note": "trial"}).status_code == 200
    token = agw.token("au-ann")
    with agw.client(token) as c:
        key = c.post("/v1/keys", json={"name": "k", "budget_usd": "2", "team_id": team["id"]}).json()
        c.patch(f"/v1/keys/{key['id']}", json={"models": ["fake/echo"]})
        c.post(f"/v1/keys/{key['id']}/suspend")
        c.post(f"/v1/keys/{key['id']}/resume")
        c.delete(f"/v1/keys/{key['id']}")
        tpl = c.post("/v1/templates", json={"name": "audited", "system": "s"}).json()
        c.patch(f"/v1/templates/{tpl['id']}", json={"system": "t"})
        c.post(f"/v1/templates/{tpl['id']}/versions/1/activate")
        c.delete(f"/v1/templates/{tpl['id']}")
    on_key = [(e["action"], e["actor"]) for e in _events(agw, target_id=key["id"])]
    assert on_key == [
        ("key.revoke", "au-ann"),
        ("key.resume", "au-ann"),
        ("key.suspend", "au-ann"),
        ("key.update", "au-ann"),
        ("key.create", "au-ann"),
    ]
    created = _events(agw, target_id=key["id"], action="key.create")[0]
    assert created["owner"] == "au-ann" and created["details"]["budget_usd"] == "2"
    assert key["key"] not in str(_events(agw, limit="1000"))
    assert [e["action"] for e in _events(agw, target_id=tpl["id"])] == [
        "template.delete",
        "template.activate",
        "template.update",
        "template.create",
    ]
    assert [(e["action"], e["actor"]) for e in _events(agw, target_id=team["id"])] == [
        ("team.update", "@admin"),
        ("team.create", "@admin"),
    ]
    credit = _events(agw, action="credit", target_id="au-ann")[0]
    assert credit["details"] == {"usd": "3", "note": "trial"} and credit["actor"] == "@admin"
    assert {e["actor"] for e in _events(agw, actor="au-ann")} == {"au-ann"}
    assert _events(agw, until="2020-01-01T00:00:00Z") == []


def test_the_cli_is_audited_too(agw: Gateway) -> None:
    url = ["--database-url", agw.settings.resolved_database_url(), "--json"]
    env = {"PATH": "/usr/bin:/bin"}
    made = subprocess.run(
        [sys.executable, "-m", "meshapi_gateway", "keys", "create", "--owner", "au-cli", *url],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert made.returncode == 0, made.stderr
    key_id = __import__("json").loads(made.stdout)["id"]
    for args in (
        ["keys", "suspend", key_id],
        ["keys", "revoke", key_id],
        ["accounts", "credit", "--owner", "au-cli", "--usd", "1"],
    ):
        out = subprocess.run(
            [sys.executable, "-m", "meshapi_gateway", *args, *url], capture_output=True, text=True, timeout=60, env=env
        )
        assert out.returncode == 0, out.stderr
    assert [(e["action"], e["actor"]) for e in _events(agw, target_id=key_id)] == [
        ("key.revoke", "@cli"),
        ("key.suspend", "@cli"),
        ("key.create", "@cli"),
    ]
    assert _events(agw, action="credit", target_id="au-cli")[0]["actor"] == "@cli"
    revoked = subprocess.run(
        [sys.executable, "-m", "meshapi_gateway", "tokens", "revoke", "--owner", "au-cli", "--note", "left", *url],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert revoked.returncode == 0, revoked.stderr
    revocation = json.loads(revoked.stdout)["id"]
    event = _events(agw, target_id=revocation)[0]
    assert (event["action"], event["actor"], event["owner"]) == ("token.revoke", "@cli", "au-cli")
    assert event["details"]["note"] == "left"


def test_token_revocations_are_audited(agw: Gateway) -> None:
    token = agw.token("au-tok")
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    with agw.client(ADMIN) as c:
        one = c.post("/v1/admin/tokens/revoke", json={"jti": jti, "note": "leaked"}).json()
        everyone = c.post("/v1/admin/tokens/revoke", json={"owner": "au-tok", "issued_before": 1_700_000_000}).json()
    first = _events(agw, target_id=one["id"])
    assert [(e["action"], e["actor"], e["target_type"]) for e in first] == [("token.revoke", "@admin", "token")]
    assert first[0]["details"]["jti"] == jti and first[0]["details"]["note"] == "leaked"
    second = _events(agw, target_id=everyone["id"])[0]
    assert second["owner"] == "au-tok" and second["details"]["issued_before"] == 1_700_000_000
    assert token not in str(_events(agw, action="token.revoke"))


def test_only_the_admin_reads_the_audit_log(agw: Gateway) -> None:
    for credential in (agw.token("au-eve"), agw.create_key("au-eve")):
        with agw.client(credential) as c:
            r = c.get("/v1/admin/audit")
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
