"""``/v1/keys``: the control plane's key management (JWT of the owner, or the admin token).

A new key is in the creation response only; listings show its prefix. A change of limits
or terms, a suspension or a revocation made here reaches this process's key cache at once
and the other replicas' within the cache refresh interval. Bodies are strict: an unknown
field is a 422 naming it, never silently dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import Decimal
from typing import Any, Optional

from pydantic import ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response, parse_json_object, read_body, read_json_object, validate
from meshapi_gateway.api.openapi import EXTRA_PATHS, _op
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.auth.key_limits import get_key, update_key
from meshapi_gateway.auth.keys import create_key, key_view, list_keys, revoke_key
from meshapi_gateway.auth.principal import Principal, owner_name_problem
from meshapi_gateway.errors import GatewayError, field_error, unknown_fields_error
from meshapi_gateway.governance import audit
from meshapi_gateway.governance.audit import actor_of
from meshapi_gateway.governance.key_terms import KeyTerms, term_columns
from meshapi_gateway.governance.spend import ledger_spend
from meshapi_gateway.governance.teams import get_team, members_of
from meshapi_gateway.store.tables import ApiKey

Limit = Optional[int]
# The limit columns are 32-bit integers on PostgreSQL (and 64-bit on SQLite): a larger
# number is a client mistake, not a database error.
MAX_LIMIT = 2**31 - 1


FLUSH_WAIT_SECONDS = 5.0


class CreateKey(KeyTerms):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=200)
    rpm: Limit = Field(None, ge=1, le=MAX_LIMIT)
    rpd: Limit = Field(None, ge=1, le=MAX_LIMIT)
    tpm: Limit = Field(None, ge=1, le=MAX_LIMIT)
    owner: Optional[str] = Field(None, min_length=1, max_length=200)  # admin token only


class UpdateKey(KeyTerms):
    model_config = ConfigDict(extra="forbid")

    name: Optional[str] = Field(None, max_length=200)
    rpm: Limit = Field(None, ge=1, le=MAX_LIMIT)
    rpd: Limit = Field(None, ge=1, le=MAX_LIMIT)
    tpm: Limit = Field(None, ge=1, le=MAX_LIMIT)


EXTRA_PATHS.update(
    {
        "/v1/keys": {
            "post": _op(
                "Create a data-plane key (201; the key is shown only in this answer)",
                CreateKey.model_json_schema(),
                status=201,
            ),
            "get": _op("List the owner's keys"),
        },
        "/v1/keys/{key_id}": {
            "get": _op("Get a key (never the key itself)"),
            "patch": _op(
                "Change a key's name, limits or terms (null removes a limit or term)", UpdateKey.model_json_schema()
            ),
            "delete": _op("Revoke a key (204)", status=204),
        },
        "/v1/keys/{key_id}/suspend": {"post": _op("Suspend a key: its requests get 403 until it is resumed")},
        "/v1/keys/{key_id}/resume": {"post": _op("Resume a suspended key")},
    }
)


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
    terms = term_columns(params.model_dump(include=set(KeyTerms.model_fields)))
    state = gw(request)
    async with state.sessions() as session:
        await _check_team(session, terms.get("team_id"), owner)
        created = await create_key(
            session, owner, params.name, rpm=params.rpm, rpd=params.rpd, tpm=params.tpm, terms=terms
        )
        await audit.record(
            session,
            actor_of(principal),
            "key.create",
            "key",
            created.id,
            owner,
            {**params.model_dump(exclude_unset=True, exclude={"owner"}), "prefix": created.key[:12]},
        )
        row = await get_key(session, created.id)
    assert row is not None
    state.key_cache.put(row)
    view = key_view(row, Decimal(0) if row.budget_usd is not None else None)
    # The only answer that ever holds the key: no cache (browser, proxy) may keep a copy.
    return json_response({**view, "key": created.key}, status=201, headers={"cache-control": "no-store"})


async def flush_usage(request: Request) -> None:
    """Write the recorded usage first, so a key's spend includes its latest requests."""
    # A database that is away must not hang the read: answer from what is written.
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(gw(request).billing.flush(), FLUSH_WAIT_SECONDS)


async def _view(session: AsyncSession, row: ApiKey) -> dict[str, object]:
    now = time.time()
    spend = None
    if row.budget_usd is not None:
        spend = await ledger_spend(session, row.id, row.budget_period or "total", now)
    return key_view(row, spend, now)


async def list_all(request: Request) -> Response:
    principal = await _caller(request)
    owner = _scope(principal)
    if owner is None:
        owner = request.query_params.get("owner") or None
    await flush_usage(request)
    async with gw(request).sessions() as session:
        rows = await list_keys(session, owner)
        views = [await _view(session, r) for r in rows]
    return json_response({"object": "list", "data": views})


async def get_one(request: Request) -> Response:
    principal = await _caller(request)
    key_id = request.path_params["key_id"]
    await flush_usage(request)
    async with gw(request).sessions() as session:
        row = await get_key(session, key_id, _scope(principal))
        if row is None:
            raise _missing(key_id)
        return json_response(await _view(session, row))


async def update(request: Request) -> Response:
    principal = await _caller(request)
    body = await read_json_object(request)
    params = validate(UpdateKey, body)
    given: dict[str, Any] = params.model_dump(exclude_unset=True)
    changes = {k: v for k, v in given.items() if k not in KeyTerms.model_fields}
    changes.update(term_columns({k: v for k, v in given.items() if k in KeyTerms.model_fields}))
    return await _change(request, principal, changes, "key.update", given)


async def _check_team(session: AsyncSession, team_id: str | None, owner: str) -> None:
    """A key may join only a team its owner belongs to."""
    if team_id is None:
        return
    team = await get_team(session, team_id)
    if team is None or owner not in members_of(team):
        raise field_error("team_id", f"No team '{team_id}' has the key's owner among its members", value=team_id)


async def _change(
    request: Request, principal: Principal, changes: dict[str, Any], action: str, details: dict[str, Any] | None = None
) -> Response:
    key_id = request.path_params["key_id"]
    state = gw(request)
    await flush_usage(request)
    async with state.sessions() as session:
        if changes.get("team_id") is not None:
            current = await get_key(session, key_id, _scope(principal))
            if current is None:
                raise _missing(key_id)
            await _check_team(session, changes["team_id"], current.owner)
        row = await update_key(session, key_id, changes, _scope(principal))
        if row is None:
            raise _missing(key_id)
        await audit.record(session, actor_of(principal), action, "key", key_id, row.owner, details)
        state.key_cache.put(row)
        return json_response(await _view(session, row))


async def suspend(request: Request) -> Response:
    """A suspended key is refused (403) until resumed; unlike a revoked key it can come back."""
    principal = await _caller(request)
    await _no_body(request)
    return await _change(request, principal, {"suspended": True}, "key.suspend")


async def resume(request: Request) -> Response:
    principal = await _caller(request)
    await _no_body(request)
    return await _change(request, principal, {"suspended": False}, "key.resume")


async def _no_body(request: Request) -> None:
    """Suspend and resume take no fields: an empty body or ``{}``; anything else is named in a 422."""
    raw = await read_body(request, 64 * 1024)
    if raw.strip():
        data = parse_json_object(raw)
        if data:
            raise unknown_fields_error(sorted(data))


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
            await audit.record(session, actor_of(principal), "key.revoke", "key", key_id, row.owner)
            row = await get_key(session, key_id)
            assert row is not None
            await session.refresh(row)
    state.key_cache.put(row)
    return Response(status_code=204)
