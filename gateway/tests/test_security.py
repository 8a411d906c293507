"""Tenant boundaries and hardening: each test is an attack that used to work, or a setting that was missing."""

from __future__ import annotations

import time
from typing import Any, Callable

import jwt
import pytest

from gwtest.harness import Gateway
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
