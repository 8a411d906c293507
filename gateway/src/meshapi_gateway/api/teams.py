"""``/v1/teams``: teams of owners with a shared budget, model allowlist and rate limits.

The admin token creates, changes and deletes teams; a member (its JWT, or one of its
keys) reads the teams it belongs to. Anyone else gets 404, as for an unknown id. A change
reaches this process's team cache at once, the other replicas' within the refresh interval.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response, read_json_object, validate
from meshapi_gateway.api.keys import flush_usage
from meshapi_gateway.api.openapi import EXTRA_PATHS, _op
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.auth.principal import Principal
from meshapi_gateway.errors import GatewayError, unknown_fields_error
from meshapi_gateway.governance import audit
from meshapi_gateway.governance.audit import actor_of
from meshapi_gateway.governance.spend import ledger_spend
from meshapi_gateway.governance.team_cache import TeamCache
from meshapi_gateway.governance.teams import (
    NOT_FOR_TEAMS,
    TeamBody,
    create_team,
    get_team,
    list_teams,
    members_of,
    team_columns,
    team_view,
    update_team,
)
from meshapi_gateway.store.team_tables import Team

EXTRA_PATHS.update(
    {
        "/v1/teams": {
            "post": _op("Create a team (admin token; 201)", TeamBody.model_json_schema(), status=201),
            "get": _op("The teams the caller belongs to (the admin: every team)"),
        },
        "/v1/teams/{team_id}": {
            "get": _op("A team (its members and the admin)"),
            "patch": _op("Change a team (admin token; null removes a term)", TeamBody.model_json_schema()),
            "delete": _op("Delete a team (admin token; 204)", status=204),
        },
    }
)


async def _caller(request: Request) -> Principal:
    return await authenticate(gw(request), request.headers.get("authorization"), "any")


def _admin(principal: Principal) -> None:
    if principal.realm != "admin":
        raise GatewayError("forbidden", "Only the admin token creates or changes teams.")


def team_cache(request: Request) -> TeamCache:
    cache = gw(request).team_cache
    assert cache is not None  # installed at start-up by governance/refresh.py
    return cache


def _missing(team_id: str) -> GatewayError:
    return GatewayError("not_found", f"Team '{team_id}' not found.")


def _body(raw: dict[str, Any]) -> TeamBody:
    refused = [name for name in raw if name in NOT_FOR_TEAMS]
    if refused:
        raise unknown_fields_error(refused)
    params = validate(TeamBody, raw)
    assert isinstance(params, TeamBody)
    return params


async def _view(request: Request, row: Team) -> dict[str, Any]:
    spend = None
    if row.budget_usd is not None:
        await flush_usage(request)
        async with gw(request).sessions() as session:
            spend = await ledger_spend(session, row.id, row.budget_period or "total", time.time(), team=True)
    return team_view(row, spend)


async def create(request: Request) -> Response:
    principal = await _caller(request)
    _admin(principal)
    params = _body(await read_json_object(request))
    async with gw(request).sessions() as session:
        row = await create_team(session, team_columns(params.model_dump(exclude_unset=True)))
        await audit.record(
            session, actor_of(principal), "team.create", "team", row.id, None, params.model_dump(exclude_unset=True)
        )
    team_cache(request).put(row)
    return json_response(await _view(request, row), status=201)


async def list_all(request: Request) -> Response:
    principal = await _caller(request)
    async with gw(request).sessions() as session:
        rows = await list_teams(session)
    if principal.realm != "admin":
        rows = [r for r in rows if principal.owner in members_of(r)]
    return json_response({"object": "list", "data": [await _view(request, r) for r in rows]})


async def _readable(request: Request, principal: Principal) -> Team:
    team_id = request.path_params["team_id"]
    async with gw(request).sessions() as session:
        row = await get_team(session, team_id)
    if row is None or (principal.realm != "admin" and principal.owner not in members_of(row)):
        raise _missing(team_id)
    return row


async def get_one(request: Request) -> Response:
    principal = await _caller(request)
    return json_response(await _view(request, await _readable(request, principal)))


async def update(request: Request) -> Response:
    principal = await _caller(request)
    await _readable(request, principal)  # a non-member learns nothing, not even that it exists
    _admin(principal)
    params = _body(await read_json_object(request))
    async with gw(request).sessions() as session:
        row = await get_team(session, request.path_params["team_id"])
        if row is None:
            raise _missing(request.path_params["team_id"])
        row = await update_team(session, row, team_columns(params.model_dump(exclude_unset=True)))
        await audit.record(
            session, actor_of(principal), "team.update", "team", row.id, None, params.model_dump(exclude_unset=True)
        )
    team_cache(request).put(row)
    return json_response(await _view(request, row))


async def delete(request: Request) -> Response:
    principal = await _caller(request)
    row = await _readable(request, principal)
    _admin(principal)
    async with gw(request).sessions() as session:
        found = await get_team(session, row.id)
        if found is not None:
            await session.delete(found)
            await session.commit()
            await audit.record(session, actor_of(principal), "team.delete", "team", row.id)
    team_cache(request).drop(row.id)
    return Response(status_code=204)
