"""``POST /v1/admin/tokens/revoke``: the admin revokes a control-plane token, or all of an owner's.

The revocation is stored, applied in this process at once and picked up by the other
replicas within ``key_cache_refresh_seconds`` (``auth/revocations.py``). Like every
control-plane change it is written to the audit log (``token.revoke``).
"""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response, read_json_object, validate
from meshapi_gateway.api.openapi import EXTRA_PATHS, _op
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.auth.revocations import revoke
from meshapi_gateway.errors import GatewayError, field_error
from meshapi_gateway.governance import audit

# Unix seconds; beyond this a value is a mistake (and would not fit a database integer anyway).
MAX_UNIX_SECONDS = 2**40


class RevokeTokens(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jti: Optional[str] = Field(None, min_length=1, max_length=255)
    owner: Optional[str] = Field(None, min_length=1, max_length=200)
    issued_before: Optional[int] = Field(None, ge=0, le=MAX_UNIX_SECONDS)
    note: str = Field("", max_length=200)


EXTRA_PATHS.update(
    {
        "/v1/admin/tokens/revoke": {
            "post": _op(
                "Revoke a control-plane token by jti, or an owner's tokens issued before a time (admin token)",
                RevokeTokens.model_json_schema(),
            )
        },
    }
)


async def revoke_tokens(request: Request) -> Response:
    state = gw(request)
    principal = await authenticate(state, request.headers.get("authorization"), "any")
    if principal.realm != "admin":
        raise GatewayError("forbidden", "This endpoint needs the admin token.")
    params = validate(RevokeTokens, await read_json_object(request))
    assert isinstance(params, RevokeTokens)
    if (params.jti is None) == (params.owner is None):
        raise field_error("jti", "Name exactly one of 'jti' (one token) and 'owner' (all of an owner's tokens)")
    if params.issued_before is not None and params.owner is None:
        raise field_error("issued_before", "Only with 'owner'")
    async with state.sessions() as session:
        row = await revoke(
            session,
            max_ttl_seconds=state.settings.jwt_max_ttl_seconds,
            jti=params.jti,
            owner=params.owner,
            issued_before=params.issued_before,
            note=params.note,
        )
        await audit.record_revocation(session, audit.actor_of(principal), row)
    if state.jwt.revocations is not None:
        state.jwt.revocations.add(row)
    return json_response(
        {
            "object": "token_revocation",
            "id": row.id,
            "jti": row.jti,
            "owner": row.owner,
            "issued_before": row.issued_before,
            "revoked_at": row.revoked_at,
        }
    )
