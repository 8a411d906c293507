"""Tenant boundaries and hardening: each test is an attack that used to work, or a setting that was missing."""

from __future__ import annotations

import json
import os
import socket
import stat
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import jwt
import pytest

from gwtest.accounts_support import ADMIN, credit, ledger
from gwtest.harness import FakeUpstream, Gateway, fake_models
from gwtest.server_thread import ServerThread
from meshapi_gateway.app import asgi
from meshapi_gateway.config import ConfigError, load_settings


def _token(gw: Gateway, claims: dict[str, Any]) -> str:
    now = int(time.time())
    body = {"aud": "authenticated", "iat": now, "exp": now + 600, **claims}
    return jwt.encode(body, gw.settings.resolved_jwt_secret(), algorithm="HS256")


def _key_owners(gw: Gateway, token: str) -> set[str]:
    with gw.client(token) as c:
        r = c.get("/v1/keys")
    assert r.status_code == 200, r.text
    return {k["owner"] for k in r.json()["data"]}


# --- item 1: the owner is a signed claim the end user cannot edit -----------------------------------


def test_user_metadata_never_names_the_owner(gateway: Gateway) -> None:
    gateway.create_key("victim-a")
    gateway.create_key("mallory-b")
    # Supabase lets a user write their own user_metadata; the signed sub is B.
    forged = _token(gateway, {"sub": "mallory-b", "user_metadata": {"sub": "victim-a"}})
    assert _key_owners(gateway, forged) == {"mallory-b"}


def test_configured_owner_claim_ignores_user_metadata(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory(jwt_owner_claim="app_metadata.org_id")
    gw.create_key("acme")
    gw.create_key("globex")
    forged = _token(gw, {"sub": "u1", "user_metadata": {"org_id": "acme"}, "app_metadata": {"org_id": "globex"}})
    assert _key_owners(gw, forged) == {"globex"}
    # A user-editable object at the top level does not count either.
    no_org = _token(gw, {"sub": "u1", "user_metadata": {"app_metadata": {"org_id": "acme"}}})
    assert _key_owners(gw, no_org) == set()


@pytest.mark.parametrize("claim", ["user_metadata.org_id", "user_metadata", "profile.org", "a..b"])
def test_owner_claim_the_user_can_write_is_refused_at_start(claim: str, tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="jwt_owner_claim"):
        load_settings(overrides={"data_dir": str(tmp_path), "jwt_owner_claim": claim}, environ={})


# --- item 6: every paid candidate is admitted against the balance before it is tried ------------------

HI = [{"role": "user", "content": "hi"}]


def _broke_gateway(gateway_factory: Callable[..., Gateway], upstream: FakeUpstream, **extra: Any) -> Gateway:
    """Billing enforced at a zero default credit, with free models that are down and fall back to paid ones."""
    common = {"provider": "openai_compat", "base_url": upstream.url, "api_key": "sk-fake", "is_free": True}
    models = [
        *fake_models(upstream.url),
        {"id": "sec/free-down", "upstream_model": "fail-503", **common},
        {"id": "sec/free-chain", "upstream_model": "fail-503", "fallbacks": ["fake/echo"], **common},
    ]
    return gateway_factory(
        models=models, billing_enforce=True, default_credit_usd="0", retry_max_rounds=0, admin_token=ADMIN, **extra
    )


@pytest.mark.parametrize(
    "body",
    [
        {"model": "sec/free-down", "models": ["fake/echo"]},
        {"models": ["sec/free-down", "fake/echo"]},
        {"model": "sec/free-chain"},
        {"model": "sec/free-down", "models": ["fake/echo"], "stream": True},
        {"model": "sec/free-chain", "stream": True},
    ],
    ids=["models-fallback", "models-only", "catalog-fallback", "stream-models", "stream-catalog"],
)
def test_paid_fallback_of_a_free_model_is_refused_at_zero_balance(
    gateway_factory: Callable[..., Gateway], fake_openai: FakeUpstream, body: dict[str, Any]
) -> None:
    gw = _broke_gateway(gateway_factory, fake_openai)
    key = gw.create_key("broke")
    with gw.client(key) as c:
        r = c.post("/v1/chat/completions", json={**body, "messages": HI})
    assert r.status_code == 402, r.text
    assert r.json()["error"]["code"] == "spend_limit_exceeded"
    assert ledger(gw, "broke") == []  # nothing was served, nothing billed


def test_free_fallbacks_and_funded_owners_are_still_served(
    gateway_factory: Callable[..., Gateway], fake_openai: FakeUpstream
) -> None:
    gw = _broke_gateway(gateway_factory, fake_openai)
    broke, funded = gw.create_key("broke"), gw.create_key("funded")
    credit(gw, "funded", "1")
    with gw.client(broke) as c:
        body = {"model": "sec/free-down", "models": ["fake/free-echo"], "messages": HI}
        r = c.post("/v1/chat/completions", json=body)
        assert r.status_code == 200 and r.headers["x-resolved-model-id"] == "fake/free-echo"
    with gw.client(funded) as c:
        r = c.post("/v1/chat/completions", json={"model": "sec/free-chain", "messages": HI})
        assert r.status_code == 200 and r.headers["x-resolved-model-id"] == "fake/echo"


def test_paid_fallback_refused_on_the_responses_api(
    gateway_factory: Callable[..., Gateway], fake_openai: FakeUpstream
) -> None:
    gw = _broke_gateway(gateway_factory, fake_openai)
    key = gw.create_key("broke")
    with gw.client(key) as c:
        r = c.post("/v1/responses", json={"model": "sec/free-chain", "input": "hi"})
    assert r.status_code == 402, r.text
    assert r.json()["error"]["code"] == "spend_limit_exceeded"


# --- item 8: the admin is not a tenant, and a replay is authorized like the first call ---------------

BATCH_LINE = {
    "custom_id": "op-1",
    "method": "POST",
    "url": "/v1/chat/completions",
    "body": {"model": "fake/echo", "messages": HI},
}


def test_a_tenant_named_admin_cannot_read_the_operators_files(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory(admin_token=ADMIN)
    tenant = gw.create_key("admin")  # an ordinary owner that happens to be called "admin"
    with gw.client(ADMIN) as c:
        r = c.post("/v1/files", json={"purpose": "batch", "requests": [BATCH_LINE]})
        assert r.status_code in (200, 201), r.text
        file_id = r.json()["id"]
    with gw.client(tenant) as c:
        assert c.get(f"/v1/files/{file_id}").status_code == 404
        assert file_id not in {f["id"] for f in c.get("/v1/files").json()["data"]}


@pytest.mark.parametrize("owner", ["@admin", "@ops", "@"])
def test_reserved_owner_names_are_refused(gateway_factory: Callable[..., Gateway], owner: str) -> None:
    gw = gateway_factory(admin_token=ADMIN)
    with gw.client(ADMIN) as c:
        r = c.post("/v1/keys", json={"owner": owner})
        assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"][-1] == "owner", r.text
        r = c.post("/v1/admin/credits", json={"owner": owner, "usd": "5"})
        assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"][-1] == "owner", r.text
    with gw.client(_token(gw, {"sub": owner})) as c:
        r = c.get("/v1/keys")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    with pytest.raises(ValueError, match="reserved"):
        gw.create_key(owner)


@pytest.mark.parametrize("command", [["keys", "create"], ["tokens", "create"], ["accounts", "credit", "--usd", "1"]])
def test_cli_refuses_reserved_owner_names(
    tmp_path: Any, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from meshapi_gateway.cli import main

    with pytest.raises(SystemExit) as exited:
        main([*command, "--owner", "@admin", "--data-dir", str(tmp_path)])
    assert exited.value.code == 2
    assert "reserved" in capsys.readouterr().err


def test_admin_only_answer_is_not_replayed_to_a_tenant(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory(admin_token=ADMIN)
    tenant = gw.create_key("admin")
    request = {"json": {"owner": "someone", "usd": "5"}, "headers": {"idempotency-key": "credit-once"}}
    with gw.client(ADMIN) as c:
        assert c.post("/v1/admin/credits", **request).status_code == 200
    with gw.client(tenant) as c:
        r = c.post("/v1/admin/credits", **request)
    assert r.status_code == 403 and "idempotent-replayed" not in r.headers
    assert r.json()["error"]["code"] == "forbidden"


def test_replays_are_scoped_by_credential_kind(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory()
    key, token = gw.create_key("carol"), gw.token("carol")
    request = {
        "json": {"name": "greet", "messages": [{"role": "system", "content": "hi"}]},
        "headers": {"idempotency-key": "tpl-1"},
    }
    with gw.client(token) as c:
        first = c.post("/v1/templates", **request)
        assert first.status_code == 201, first.text
        again = c.post("/v1/templates", **request)  # the same credential kind: the first answer
        assert again.headers.get("idempotent-replayed") == "true" and again.json() == first.json()
    with gw.client(key) as c:
        other = c.post("/v1/templates", **request)
    assert "idempotent-replayed" not in other.headers
    assert other.status_code == 409  # it ran: the name is taken (templates are shared by the owner's credentials)


# --- item 12 (at rest): the database, the data folder and stored files are private -----------------


def test_data_folder_database_and_files_are_private(gateway_factory: Callable[..., Gateway], tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    previous = os.umask(0o022)  # the usual umask, under which files are created world-readable
    try:
        gw = gateway_factory(data_dir=str(data_dir), jwt_secret="")  # the secret is generated into the folder
        key = gw.create_key("private")
        with gw.client(key) as c:
            r = c.post("/v1/files", json={"purpose": "batch", "requests": [BATCH_LINE]})
            assert r.status_code in (200, 201), r.text
            assert c.post("/v1/chat/completions", json={"model": "fake/echo", "messages": HI}).status_code == 200
    finally:
        os.umask(previous)
    stored = [p for p in (data_dir / "files").iterdir()]
    assert stored
    folders = [data_dir, data_dir.parent, data_dir / "files"]
    files = [
        data_dir / "gateway.db",
        data_dir / "jwt_secret",
        *stored,
        *(p for p in data_dir.iterdir() if p.name.startswith("gateway.db-")),
    ]
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in folders} == {p.name: "0o700" for p in folders}
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {p.name: "0o600" for p in files}


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    from meshapi_gateway.store import db

    path = tmp_path / "old.db"
    path.write_bytes(b"")
    path.chmod(0o644)
    db.upgrade(f"sqlite+aiosqlite:///{path}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --- item 13: weak JWT settings are refused, and control-plane tokens can be revoked ----------------


@pytest.mark.parametrize("secret", ["x", "s" * 31, "é" * 15])
def test_short_jwt_secret_is_refused_at_start(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ConfigError, match=r"jwt_secret .*at least 32 bytes"):
        load_settings(overrides={"data_dir": str(tmp_path)}, environ={"MESHAPI_GATEWAY_JWT_SECRET": secret})
    assert load_settings(overrides={"data_dir": str(tmp_path), "jwt_secret": "s" * 32}, environ={})


def test_short_stored_jwt_secret_is_refused(tmp_path: Path) -> None:
    (tmp_path / "jwt_secret").write_text("short")
    settings = load_settings(overrides={"data_dir": str(tmp_path)}, environ={})
    with pytest.raises(ConfigError, match="shorter than 32 bytes"):
        settings.resolved_jwt_secret()


def test_tokens_beyond_the_maximum_lifetime_are_refused(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory()
    gw.create_key("longlived")
    now = int(time.time())
    ten_years = _token(gw, {"sub": "longlived", "iat": now, "exp": now + 10 * 365 * 86400})
    no_iat = jwt.encode(
        {"sub": "longlived", "aud": "authenticated", "exp": now + 100 * 86400}, gw.settings.resolved_jwt_secret()
    )
    within = _token(gw, {"sub": "longlived", "iat": now, "exp": now + 30 * 86400})
    for token in (ten_years, no_iat):
        with gw.client(token) as c:
            r = c.get("/v1/keys")
        assert r.status_code == 401 and "lifetime" in r.json()["error"]["message"], r.text
    assert _key_owners(gw, within) == {"longlived"}


def test_max_token_lifetime_is_a_setting(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory(jwt_max_ttl_seconds=3600)
    now = int(time.time())
    with gw.client(_token(gw, {"sub": "short", "iat": now, "exp": now + 7200})) as c:
        assert c.get("/v1/keys").status_code == 401
    with gw.client(_token(gw, {"sub": "short", "iat": now, "exp": now + 3000})) as c:
        assert c.get("/v1/keys").status_code == 200


def test_cli_refuses_to_mint_beyond_the_maximum_lifetime(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from meshapi_gateway.cli import main

    args = ["tokens", "create", "--owner", "o", "--data-dir", str(tmp_path)]
    assert main([*args, "--ttl", str(10 * 365 * 86400)]) == 2
    assert "jwt_max_ttl_seconds" in capsys.readouterr().err
    assert main([*args, "--ttl", "600", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["jti"]


def _status(gw: Gateway, token: str) -> int:
    with gw.client(token) as c:
        return c.get("/v1/keys").status_code


def test_admin_revokes_one_token_by_jti(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory(admin_token=ADMIN)
    stolen, other = gw.token("rita"), gw.token("rita")
    jti = jwt.decode(stolen, options={"verify_signature": False})["jti"]
    assert _status(gw, stolen) == 200
    with gw.client(stolen) as c:  # a tenant cannot revoke
        assert c.post("/v1/admin/tokens/revoke", json={"jti": jti}).status_code == 403
    with gw.client(ADMIN) as c:
        r = c.post("/v1/admin/tokens/revoke", json={"jti": jti, "note": "leaked"})
    assert r.status_code == 200 and r.json()["jti"] == jti, r.text
    assert _status(gw, stolen) == 401
    assert _status(gw, other) == 200


def test_admin_revokes_an_owners_older_tokens(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory(admin_token=ADMIN)
    now = int(time.time())
    old = _token(gw, {"sub": "sam", "iat": now - 60})
    new = _token(gw, {"sub": "sam", "iat": now})
    neighbour = _token(gw, {"sub": "tom", "iat": now - 60})
    with gw.client(ADMIN) as c:
        r = c.post("/v1/admin/tokens/revoke", json={"owner": "sam", "issued_before": now - 30})
        assert r.status_code == 200, r.text
        bad = c.post("/v1/admin/tokens/revoke", json={"jti": "a", "owner": "sam"})
        assert bad.status_code == 422 and bad.json()["error"]["details"][0]["loc"][-1] == "jti"
    assert (_status(gw, old), _status(gw, new), _status(gw, neighbour)) == (401, 200, 200)


def test_revocation_from_the_cli_reaches_running_gateways(gateway_factory: Callable[..., Gateway]) -> None:
    from meshapi_gateway.cli import main

    gw = gateway_factory()
    token = gw.token("una")
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert _status(gw, token) == 200
    assert main(["tokens", "revoke", "--jti", jti, "--data-dir", str(gw.settings.data_dir)]) == 0
    deadline = time.monotonic() + 10  # a running gateway re-reads revocations every key_cache_refresh_seconds
    status = 200
    while status == 200 and time.monotonic() < deadline:
        time.sleep(0.1)
        status = _status(gw, token)
    assert status == 401
    # A gateway started later on the same database knows it from the start.
    later = gateway_factory(data_dir=str(gw.settings.data_dir))
    assert _status(later, token) == 401


# --- item 14: small amounts, batch file reports, headers, metrics access ------------------------------


@pytest.mark.parametrize("usd", ["1e-30", "0.00000000001", "-1E-11"])
def test_credit_below_the_smallest_unit_is_refused(gateway_factory: Callable[..., Gateway], usd: str) -> None:
    gw = gateway_factory(admin_token=ADMIN)
    with gw.client(ADMIN) as c:
        r = c.post("/v1/admin/credits", json={"owner": "tiny", "usd": usd})
        assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"][-1] == "usd", r.text
        assert c.get("/v1/admin/accounts/tiny").json()["limited"] is False  # no empty account was opened
        assert c.post("/v1/admin/credits", json={"owner": "tiny", "usd": "0.0000000001"}).status_code == 200


def test_cli_refuses_a_credit_below_the_smallest_unit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from meshapi_gateway.cli import main

    assert main(["accounts", "credit", "--owner", "tiny", "--usd", "1e-30", "--data-dir", str(tmp_path)]) == 2
    assert "smallest amount" in capsys.readouterr().err


def test_bad_batch_file_counts_lines_and_names_the_first_problems(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory()
    key = gw.create_key("batcher")
    # Each bad line has two problems (no custom_id, and an unknown url).
    bad = {"method": "POST", "url": "/v1/nope", "body": {"model": "fake/echo", "messages": HI}}
    lines = [{**BATCH_LINE, "custom_id": "ok-1"}, *([bad] * 300)]
    with gw.client(key) as c:
        r = c.post("/v1/files", json={"purpose": "batch", "requests": lines})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_batch_file"
    message = error["message"]
    assert "300 of 301 line(s) are invalid (600 problems)" in message
    assert "line 2: custom_id is required" in message and "line 3:" in message
    assert len(error["details"]) == 100 and error["details"][0]["line"] == 2


def test_every_answer_says_nosniff(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory()
    key = gw.create_key("sniff")
    with gw.client(key) as c:
        answers = [
            c.get("/health"),
            c.get("/v1/models"),
            c.get("/nope"),
            c.post("/v1/chat/completions", json={"model": "fake/echo", "messages": HI}),
            c.post("/v1/chat/completions", content=b"{"),
            c.post("/v1/chat/completions", json={"model": "fake/echo", "messages": HI, "stream": True}),
        ]
    with gw.client() as c:
        answers.append(c.get("/v1/keys"))
    assert [a.headers.get("x-content-type-options") for a in answers] == ["nosniff"] * len(answers)


def test_the_answer_carrying_a_new_key_is_not_cached(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory()
    with gw.client(gw.token("cachey")) as c:
        r = c.post("/v1/keys", json={"name": "fresh"})
        assert r.status_code == 201 and r.json()["key"].startswith("rsk_")
        assert r.headers["cache-control"] == "no-store"


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


@pytest.mark.parametrize(
    ("access", "local", "remote", "remote_admin"),
    [
        ("local", 200, 401, 200),
        ("admin", 401, 401, 200),
        ("open", 200, 200, 200),
        ("off", 404, 404, 404),
    ],
)
def test_metrics_access_is_a_setting(
    gateway_factory: Callable[..., Gateway], access: str, local: int, remote: int, remote_admin: int
) -> None:
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to call from")
    gw = gateway_factory(admin_token=ADMIN, metrics_access=access)
    # The same gateway's application, also listening on every interface, to be called from "outside".
    outside = ServerThread(asgi(gw.settings), host="0.0.0.0").start()
    try:
        got = (
            httpx.get(f"{gw.url}/metrics").status_code,
            httpx.get(f"http://{address}:{outside.port}/metrics").status_code,
            httpx.get(
                f"http://{address}:{outside.port}/metrics", headers={"authorization": f"Bearer {ADMIN}"}
            ).status_code,
        )
    finally:
        outside.stop()
    assert got == (local, remote, remote_admin)
    with gw.client(gw.create_key("tenant")) as c:  # a tenant key is not the admin
        assert c.get("/metrics").status_code == {"local": 200, "admin": 403, "open": 200, "off": 404}[access]


def test_openapi_document_is_whole_in_every_gateway_of_a_process(gateway_factory: Callable[..., Gateway]) -> None:
    # Building the document once must not strip the shared route schemas for the next app.
    for gw in (gateway_factory(), gateway_factory()):
        text = httpx.get(f"{gw.url}/openapi.json").text
        doc = json.loads(text)
        for name in {part.split('"')[0] for part in text.split('"$ref":"#/components/schemas/')[1:]}:
            assert name in doc["components"]["schemas"], name
