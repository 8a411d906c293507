"""Key management through the control plane and the CLI, and the owner isolation matrix.

Owner A, holding a key and a JWT, is pointed at every resource of owner B: the answer
is always 404 (or the documented 401/403 for the wrong realm), and no byte of B's data.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from typing import Any, Callable

import jwt
import pytest
from gwtest.accounts_support import ADMIN, credit
from gwtest.harness import Gateway

CHAT = {"model": "fake/echo", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def agw(tmp_path_factory: pytest.TempPathFactory, fake_openai: Any) -> Any:
    from gwtest.harness import start_gateway

    gw = start_gateway(tmp_path_factory.mktemp("keys"), fake_openai.url, admin_token=ADMIN)
    yield gw
    gw.server.stop()


def test_key_lifecycle_over_the_control_plane(agw: Gateway) -> None:
    token = agw.token("keys-life")
    with agw.client(token) as c:
        r = c.post("/v1/keys", json={"name": "ci", "rpm": 100, "rpd": 1000, "tpm": 50000})
        assert r.status_code == 201
        created = r.json()
        key = created["key"]
        assert key.startswith("rsk_") and created["prefix"] == key[:12]
        assert (created["rpm"], created["rpd"], created["tpm"], created["name"]) == (100, 1000, 50000, "ci")
        listed = c.get("/v1/keys")
        assert key not in listed.text and [k["id"] for k in listed.json()["data"]] == [created["id"]]
        one = c.get(f"/v1/keys/{created['id']}")
        assert one.status_code == 200 and key not in one.text and "key" not in one.json()
    with agw.client(key) as c:
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 200
    with agw.client(token) as c:
        assert c.patch(f"/v1/keys/{created['id']}", json={"name": "renamed"}).json()["name"] == "renamed"
        r = c.delete(f"/v1/keys/{created['id']}")
        assert r.status_code == 204 and r.content == b""
        assert c.get(f"/v1/keys/{created['id']}").json()["revoked_at"] is not None
        assert c.delete(f"/v1/keys/{created['id']}").status_code == 204
    with agw.client(key) as c:
        r = c.post("/v1/chat/completions", json=CHAT)  # revoked here: refused at once, no refresh wait
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_key_input_is_validated(agw: Gateway) -> None:
    with agw.client(agw.token("keys-bad")) as c:
        for body in ({"rpm": 0}, {"rpm": "many"}, {"tpm": -1}, {"name": "x" * 300}):
            r = c.post("/v1/keys", json=body)
            assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", body
        key_id = c.post("/v1/keys", json={}).json()["id"]
        assert c.patch(f"/v1/keys/{key_id}", json={"rpd": 0}).status_code == 422
    with agw.client(ADMIN) as c:
        assert c.post("/v1/keys", json={"name": "no owner"}).status_code == 422
        made = c.post("/v1/keys", json={"owner": "keys-by-admin"}).json()
        assert made["owner"] == "keys-by-admin"
        assert made["id"] in {k["id"] for k in c.get("/v1/keys", params={"owner": "keys-by-admin"}).json()["data"]}


def test_keys_need_a_control_plane_token(agw: Gateway) -> None:
    key = agw.create_key("keys-realm")
    for token in (key, None):
        with agw.client(token) as c:
            for method, path in (("GET", "/v1/keys"), ("POST", "/v1/keys"), ("DELETE", "/v1/keys/key_x")):
                r = c.request(method, path, json={} if method == "POST" else None)
                assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_cli_keys_update_reaches_a_running_gateway(agw: Gateway) -> None:
    with agw.client(agw.token("keys-cli")) as c:
        created = c.post("/v1/keys", json={"name": "cli"}).json()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "meshapi_gateway",
            "keys",
            "update",
            created["id"],
            "--rpm",
            "1",
            "--database-url",
            agw.settings.resolved_database_url(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    deadline = time.monotonic() + 10
    with agw.client(created["key"]) as c:
        while c.post("/v1/chat/completions", json=CHAT).headers.get("x-ratelimit-limit") != "1":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 429


@pytest.mark.parametrize(
    "make",
    [
        lambda secret: jwt.encode(
            {"sub": "a", "aud": "authenticated", "exp": int(time.time()) + 100}, None, algorithm="none"
        ),
        lambda secret: jwt.encode({"sub": "a", "aud": "authenticated", "exp": int(time.time()) - 10}, secret),
        lambda secret: jwt.encode({"sub": "a", "aud": "other", "exp": int(time.time()) + 100}, secret),
        lambda secret: jwt.encode(
            {"sub": "a", "aud": "authenticated", "exp": int(time.time()) + 100}, "wrong-" + secret
        ),
    ],
    ids=["alg-none", "expired", "wrong-audience", "wrong-secret"],
)
def test_bad_tokens_are_401_on_account_endpoints(agw: Gateway, make: Callable[[str], str]) -> None:
    token = make(agw.settings.resolved_jwt_secret())
    with agw.client(token) as c:
        for method, path in (
            ("GET", "/v1/keys"),
            ("POST", "/v1/keys"),
            ("GET", "/v1/templates"),
            ("POST", "/v1/templates"),
            ("GET", "/v1/balance"),
            ("GET", "/v1/usage"),
            ("POST", "/v1/usage/events"),
        ):
            r = c.request(method, path, json={"name": "x"} if method == "POST" else None)
            assert r.status_code == 401, (method, path, r.text)
            assert r.json()["error"]["code"] == "unauthorized"


def test_isolation_matrix(agw: Gateway) -> None:
    # Owner B's resources: a key, a template, a balance, usage.
    b_token = agw.token("iso-b")
    with agw.client(b_token) as c:
        b_key = c.post("/v1/keys", json={"name": "b-secret-name"}).json()
        b_tpl = c.post(
            "/v1/templates", json={"name": "b-template", "system": "B's secret prompt", "model": "fake/echo"}
        ).json()
    credit(agw, "iso-b", "7.77")
    with agw.client(b_key["key"]) as c:
        b_request = c.post("/v1/chat/completions", json=CHAT).headers["x-request-id"]
    b_markers = [
        b_key["id"],
        b_key["key"],
        "b-secret-name",
        b_tpl["id"],
        "B's secret prompt",
        b_request,
        "7.77",
        "iso-b",
    ]

    a_key = agw.create_key("iso-a")
    a_token = agw.token("iso-a")
    seen: list[str] = []
    for token in (a_key, a_token):
        with agw.client(token) as c:
            for method, path in (
                ("GET", f"/v1/templates/{b_tpl['id']}"),
                ("PATCH", f"/v1/templates/{b_tpl['id']}"),
                ("DELETE", f"/v1/templates/{b_tpl['id']}"),
            ):
                r = c.request(method, path, json={"system": "x"} if method == "PATCH" else None)
                assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", (method, path)
                seen.append(r.text)
            r = c.get("/v1/templates")
            assert r.status_code == 200 and b_tpl["id"] not in r.text
            seen.append(r.text)
            for path in ("/v1/balance", "/v1/usage", f"/v1/usage?request_id={b_request}"):
                r = c.get(path)
                assert r.status_code == 200
                seen.append(r.text)
            assert c.get("/v1/balance").json()["owner"] == "iso-a"
            assert c.get(f"/v1/usage?request_id={b_request}").json()["data"] == []
            r = c.post("/v1/usage/events", json={"since": 0})
            assert r.status_code == 200 and r.json()["events"] == []
            seen.append(r.text)
            r = c.get("/v1/admin/accounts/iso-b")
            assert r.status_code == 403
            seen.append(r.text)
    with agw.client(a_token) as c:
        for method, path in (
            ("GET", f"/v1/keys/{b_key['id']}"),
            ("PATCH", f"/v1/keys/{b_key['id']}"),
            ("DELETE", f"/v1/keys/{b_key['id']}"),
        ):
            r = c.request(method, path, json={"rpm": 1} if method == "PATCH" else None)
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", (method, path)
            seen.append(r.text)
        r = c.get("/v1/keys")
        assert b_key["id"] not in r.text
        seen.append(r.text)
    with agw.client(a_key) as c:
        for ref in ("b-template", b_tpl["id"]):
            r = c.post("/v1/chat/completions", json={**CHAT, "template": ref})
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
            seen.append(r.text)
    for text in seen:
        # A 404 may repeat the id the caller itself sent; nothing else of B's may appear.
        echoed = {m for m in (b_key["id"], b_tpl["id"], "b-template", b_request) if f"'{m}'" in text}
        for marker in b_markers:
            if marker not in echoed:
                assert marker not in text, (marker, text[:200])
    # B's things are untouched by all of the above.
    with agw.client(b_token) as c:
        assert c.get(f"/v1/keys/{b_key['id']}").json()["revoked_at"] is None
        assert c.get(f"/v1/templates/{b_tpl['id']}").json()["system"] == "B's secret prompt"
    with agw.client(b_key["key"]) as c:
        assert c.post("/v1/chat/completions", json={**CHAT, "template": "b-template"}).status_code == 200
    assert str(uuid.UUID(b_tpl["id"])) == b_tpl["id"]
