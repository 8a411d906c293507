"""From an ``Authorization`` header to a ``Principal``, or the documented 401/403.

Realms (docs/wire.md, Auth realms): ``data`` accepts rsk keys, ``control`` accepts JWTs,
``any`` accepts both; the admin token is accepted wherever an admin acts.
"""

from __future__ import annotations

import hmac
import time
from typing import TYPE_CHECKING

from meshapi_gateway.auth.jwt_tokens import TokenError
from meshapi_gateway.auth.keys import KEY_PREFIX
from meshapi_gateway.auth.principal import ADMIN_OWNER, RESERVED_PREFIX, Principal
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.observability.record import note_principal

if TYPE_CHECKING:
    from meshapi_gateway.state import GatewayState


def _unauthorized(message: str) -> GatewayError:
    return GatewayError("unauthorized", message, headers={"www-authenticate": "Bearer"})


def bearer(authorization: str | None, api_key_query: str | None = None) -> str:
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        raise _unauthorized("Authorization header must be 'Bearer <token>'.")
    if api_key_query:
        return api_key_query
    raise _unauthorized("Missing API key: send 'Authorization: Bearer <key>'.")


async def authenticate(
    state: "GatewayState", authorization: str | None, realm: str = "data", api_key_query: str | None = None
) -> Principal:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if not token or scheme.lower() != "bearer":
        token = bearer(authorization, api_key_query)  # the query key, or the error that says what is wrong
    admin = state.settings.admin_token
    if admin and hmac.compare_digest(token.encode(), admin.encode()):
        return Principal(owner=ADMIN_OWNER, realm="admin")
    if token.startswith(KEY_PREFIX):
        if realm == "control":
            raise _unauthorized("This endpoint needs a control-plane token, not an rsk_ key.")
        cached = state.key_cache.hit(token)
        if cached is None:  # not cached yet, or no such key: the table is asked (and misses remembered)
            cached = await state.key_cache.lookup(token)
        if cached is None:
            raise _unauthorized("Invalid API key.")
        if cached.revoked:
            raise GatewayError("forbidden", "This API key has been revoked.")
        if cached.suspended:
            raise GatewayError("forbidden", "This API key is suspended; its owner or the admin can resume it.")
        if cached.expires_at is not None and cached.expires_at <= time.time():
            raise _unauthorized("This API key has expired.")
        principal = cached.principal
        if principal is None:
            principal = cached.principal = Principal(
                cached.owner, "data", cached.id, cached.rpm, cached.rpd, cached.tpm, cached
            )
        note_principal(principal)
        return principal
    if realm == "data":
        raise _unauthorized("Invalid API key: data-plane endpoints take an rsk_ key.")
    try:
        owner = await state.jwt.verify(token)
    except TokenError as exc:
        raise _unauthorized(f"Invalid token: {exc}.") from None
    if owner.startswith(RESERVED_PREFIX):
        raise _unauthorized("Invalid token: its owner name is reserved.")
    return Principal(owner=owner, realm="control")
