"""``/v1/keys``: the control plane's key management (JWT of the owner, or the admin token).

A new key is in the creation response only; listings show its prefix. A limit change
or a revocation made here reaches this process's key cache at once and the other
replicas' within the cache refresh interval.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response, read_json_object, validate
from meshapi_gateway.api.openapi import EXTRA_PATHS, _op
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.auth.key_limits import get_key, update_key
from meshapi_gateway.auth.keys import create_key, key_view, list_keys, revoke_key
from meshapi_gateway.auth.principal import Principal, owner_name_problem
from meshapi_gateway.errors import GatewayError, field_error

Limit = Optional[int]
# The limit columns are 32-bit integers on PostgreSQL (and 64-bit on SQLite): a larger
# number is a client mistake, not a database error.
MAX_LIMIT = 2**31 - 1


class CreateKey(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field("", max_length=200)
    rpm: Limit = Field(None, ge=1, le=MAX_LIMIT)
    rpd: Limit = Field(None, ge=1, le=MAX_LIMIT)
    tpm: Limit = Field(None, ge=1, le=MAX_LIMIT)
    owner: Optional[str] = Field(None, min_length=1, max_length=200)  # admin token only


class UpdateKey(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Optional[str] = Field(None, max_length=200)
    rpm: Limit = Field(None, ge=1, le=MAX_LIMIT)
    rpd: Limit = Field(None, ge=1, le=MAX_LIMIT)
    tpm: Limit = Field(None, ge=1, le=MAX_LIMIT)


EXTRA_PATHS.update({
    "/v1/keys": {"post": _op("Create a data-plane key (201; the key is shown only in this answer)",
                             CreateKey.model_json_schema(), status=201),
                 "get": _op("List the owner's keys")},
    "/v1/keys/{key_id}": {"get": _op("Get a key (never the key itself)"),
                          "patch": _op("Change a key's name or limits (null removes a limit)",
                                       UpdateKey.model_json_schema()),
                          "delete": _op("Revoke a key (204)", status=204)},
})


async def _caller(request: Request) -> Principal:
    return await authenticate(gw(request), request.headers.get("authorization"), "control")


def _scope(principal: Principal) -> str | None:
    """The owner whose keys a caller manages (``None``: the admin manages all)."""
    return None if principal.realm == "admin" else principal.owner


def _missing(key_id: str) -> GatewayError:
    return GatewayError("not_found", f"Key '{key_id}' not found.")


async def create(request: Request) -> Response:
    principal = await _caller(request)
    params = validate(CreateKey, await read_json_object(request))
    assert isinstance(params, CreateKey)
    owner = principal.owner
    if principal.realm == "admin":
        if not params.owner:
            raise field_error("owner", "The admin token must name the key's owner", type_="missing")
        owner = params.owner
        problem = owner_name_problem(owner)
        if problem is not None:
            raise field_error("owner", f"Owner {problem}", value=owner)
    state = gw(request)
    async with state.sessions() as session:
        created = await create_key(session, owner, params.name, rpm=params.rpm, rpd=params.rpd, tpm=params.tpm)
        row = await get_key(session, created.id)
    assert row is not None
    state.key_cache.put(row)
    # The only answer that ever holds the key: no cache (browser, proxy) may keep a copy.
    return json_response({**key_view(row), "key": created.key}, status=201, headers={"cache-control": "no-store"})


async def list_all(request: Request) -> Response:
    principal = await _caller(request)
    owner = _scope(principal)
    if owner is None:
        owner = request.query_params.get("owner") or None
    async with gw(request).sessions() as session:
        rows = await list_keys(session, owner)
    return json_response({"object": "list", "data": [key_view(r) for r in rows]})


async def get_one(request: Request) -> Response:
    principal = await _caller(request)
    key_id = request.path_params["key_id"]
    async with gw(request).sessions() as session:
        row = await get_key(session, key_id, _scope(principal))
    if row is None:
        raise _missing(key_id)
    return json_response(key_view(row))


async def update(request: Request) -> Response:
    principal = await _caller(request)
    body = await read_json_object(request)
    params = validate(UpdateKey, body)
    changes: dict[str, Any] = params.model_dump(exclude_unset=True)
    key_id = request.path_params["key_id"]
    state = gw(request)
    async with state.sessions() as session:
        row = await update_key(session, key_id, changes, _scope(principal))
    if row is None:
        raise _missing(key_id)
    state.key_cache.put(row)
    return json_response(key_view(row))


async def revoke(request: Request) -> Response:
    principal = await _caller(request)
    key_id = request.path_params["key_id"]
    state = gw(request)
    async with state.sessions() as session:
        row = await get_key(session, key_id, _scope(principal))
        if row is None:
            raise _missing(key_id)
        if row.revoked_at is None:
            await revoke_key(session, key_id)
            row = await get_key(session, key_id)
            assert row is not None
            await session.refresh(row)
    state.key_cache.put(row)
    return Response(status_code=204)
