"""Keys in the store (SQLite and PostgreSQL), the in-memory key cache, and both auth realms."""

from __future__ import annotations

import asyncio
import time
from typing import Callable

import jwt
import pytest

from gwtest.harness import Gateway
from meshapi_gateway.auth.keys import hash_key, revoke_key
from meshapi_gateway.store import db

CHAT = {"model": "fake/echo", "messages": [{"role": "user", "content": "hi"}]}


def _revoke(gw: Gateway, key_id: str) -> None:
    async def run() -> None:
        engine = db.make_engine(gw.settings.resolved_database_url())
        try:
            async with db.sessionmaker(engine)() as s:
                assert await revoke_key(s, key_id)
        finally:
            await engine.dispose()

    asyncio.run(run())


def _key_id(gw: Gateway, key: str) -> str:
    from sqlalchemy import select

    from meshapi_gateway.store.tables import ApiKey

    async def run() -> tuple[str, str]:
        engine = db.make_engine(gw.settings.resolved_database_url())
        try:
            async with db.sessionmaker(engine)() as s:
                row = (await s.execute(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))).scalar_one()
                return row.id, row.key_hash
        finally:
            await engine.dispose()

    key_id, stored = asyncio.run(run())
    assert stored != key and key not in stored  # only the hash is stored
    return key_id


def test_key_lifecycle_on_both_databases(gateway_factory: Callable[..., Gateway], database_url: str) -> None:
    gw = gateway_factory(database_url=database_url)
    key = gw.create_key("bob")
    with gw.client(key) as c:
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 200
    _revoke(gw, _key_id(gw, key))
    deadline = time.monotonic() + 5
    status = 200
    while time.monotonic() < deadline:
        with gw.client(key) as c:
            r = c.post("/v1/chat/completions", json=CHAT)
        status = r.status_code
        if status == 403:
            break
        time.sleep(0.2)
    assert status == 403
    assert r.json()["error"]["code"] == "forbidden"


def test_missing_and_invalid_keys(gateway: Gateway) -> None:
    with gateway.client() as c:
        r = c.post("/v1/chat/completions", json=CHAT)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        r = c.post("/v1/chat/completions", json=CHAT, headers={"authorization": "Bearer rsk_nope"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        r = c.post("/v1/chat/completions", json=CHAT, headers={"authorization": "Basic abc"})
        assert r.status_code == 401


def test_jwt_is_control_plane_only(gateway: Gateway, key: str) -> None:
    token = gateway.token("alice")
    with gateway.client(token) as c:
        assert c.get("/v1/models").status_code == 200  # models take either realm
        r = c.post("/v1/chat/completions", json=CHAT)
        assert r.status_code == 401  # chat needs a data-plane key
    with gateway.client(key) as c:
        assert c.get("/v1/models").status_code == 200


@pytest.mark.parametrize(
    "make",
    [
        lambda secret: jwt.encode({"sub": "a", "aud": "authenticated", "exp": int(time.time()) - 10}, secret),
        lambda secret: jwt.encode({"sub": "a", "aud": "other", "exp": int(time.time()) + 100}, secret),
        lambda secret: jwt.encode(
            {"sub": "a", "aud": "authenticated", "exp": int(time.time()) + 100}, "wrong-" + secret
        ),
        lambda secret: jwt.encode(
            {"sub": "a", "aud": "authenticated", "exp": int(time.time()) + 100}, None, algorithm="none"
        ),
        lambda secret: "not.a.jwt",
    ],
    ids=["expired", "wrong-audience", "wrong-secret", "alg-none", "garbage"],
)
def test_bad_tokens_are_401(gateway: Gateway, make: Callable[[str], str]) -> None:
    token = make(gateway.settings.resolved_jwt_secret())
    with gateway.client(token) as c:
        r = c.get("/v1/models")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"


def test_supabase_owner_claim_from_app_metadata(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory(jwt_owner_claim="app_metadata.org_id")
    secret = gw.settings.resolved_jwt_secret()
    token = jwt.encode(
        {"sub": "user-1", "aud": "authenticated", "exp": int(time.time()) + 60, "app_metadata": {"org_id": "acme"}},
        secret,
    )
    assert asyncio.run(_verify(gw, token)) == "acme"
    token = jwt.encode({"sub": "user-1", "aud": "authenticated", "exp": int(time.time()) + 60}, secret)
    assert asyncio.run(_verify(gw, token)) == "user-1"


async def _verify(gw: Gateway, token: str) -> str:
    from meshapi_gateway.auth.jwt_tokens import JWTVerifier

    s = gw.settings
    return await JWTVerifier(s.resolved_jwt_secret(), s.jwt_audience, owner_claim=s.jwt_owner_claim).verify(token)
