"""What an owner may read about its own spending: ``/v1/balance`` and the usage ledger.

``POST /v1/usage/events`` is meshapi-code's incremental read (docs/wire.md, Usage events; oldest
first from ``since``); ``GET /v1/usage`` lists newest first with filters and totals.
Both flush this process's pending ledger rows first, so a request just answered is
already there.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timezone
from typing import Any, Optional, Union

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response, read_json_object, validate
from meshapi_gateway.api.openapi import EXTRA_PATHS, _op
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.auth.principal import Principal
from meshapi_gateway.billing.queries import (
    GROUPS,
    UsageFilter,
    balance_view,
    event_view,
    events,
    grouped,
    totals,
    usd,
)
from meshapi_gateway.errors import GatewayError, field_error

FLUSH_WAIT_SECONDS = 5.0


class EventsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_id: Optional[str] = None
    since: Optional[Union[str, float]] = None
    limit: int = Field(200, ge=1, le=1000)


EXTRA_PATHS.update(
    {
        "/v1/balance": {"get": _op("The owner's balance (available_usd and more, decimal strings)")},
        "/v1/usage/events": {"post": _op("Usage events since a time, oldest first", EventsQuery.model_json_schema())},
        "/v1/usage": {
            "get": _op(
                "Usage rows, newest first, with filters and totals; with group_by (key, team, model, "
                "day) sums per group over the time range"
            )
        },
    }
)


# The last second of year 9999: later (or non-finite) times cannot be stored or compared.
MAX_TIME_SECONDS = 253402300799


def _seconds_ms(seconds: float, name: str, raw: Any) -> int:
    if not 0 <= seconds <= MAX_TIME_SECONDS:  # also false for NaN
        raise field_error(
            name, f"Unix seconds must be a finite number from 0 to {MAX_TIME_SECONDS}", value=str(raw)[:100]
        )
    return int(seconds * 1000)


def parse_time_ms(value: Any, name: str) -> int | None:
    """ISO-8601 (``Z`` allowed) or Unix seconds → Unix milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _seconds_ms(float(value), name, value)
    if isinstance(value, str):
        try:
            seconds = float(value)
        except ValueError:
            pass
        else:
            return _seconds_ms(seconds, name, value)
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            return _seconds_ms(parsed.timestamp(), name, value)
    raise field_error(name, "Expected an ISO-8601 time or Unix seconds", value=str(value)[:100])


async def _caller(request: Request) -> Principal:
    return await authenticate(gw(request), request.headers.get("authorization"), "any")


async def _flush(request: Request) -> Any:
    billing = gw(request).billing
    # A database that is away must not hang the read: answer from what is written.
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(billing.flush(), FLUSH_WAIT_SECONDS)
    return billing.book


async def balance(request: Request) -> Response:
    principal = await _caller(request)
    book = await _flush(request)
    async with gw(request).sessions() as session:
        return json_response(await balance_view(session, principal.owner, book))


async def usage_events(request: Request) -> Response:
    principal = await _caller(request)
    params = validate(EventsQuery, await read_json_object(request))
    assert isinstance(params, EventsQuery)
    flt = UsageFilter(principal.owner, since_ms=parse_time_ms(params.since, "since"))
    await _flush(request)
    async with gw(request).sessions() as session:
        rows, more = await events(session, flt, params.limit, newest_first=False)
    return json_response({"object": "list", "events": [event_view(r) for r in rows], "has_more": more})


def _limit(raw: str | None) -> int:
    if raw is None:
        return 100
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 1000:
        raise GatewayError(
            "validation_error",
            "Request validation failed.",
            details=[
                {
                    "type": "int_parsing",
                    "loc": ["query", "limit"],
                    "msg": "limit must be an integer from 1 to 1000",
                    "input": raw[:50],
                }
            ],
        )
    return int(raw)


async def _grouped(request: Request, flt: UsageFilter, by: str) -> Response:
    if by not in GROUPS:
        raise GatewayError(
            "validation_error",
            "Request validation failed.",
            details=[
                {
                    "type": "enum",
                    "loc": ["query", "group_by"],
                    "msg": f"group_by must be one of {', '.join(GROUPS)}",
                    "input": by[:50],
                }
            ],
        )
    await _flush(request)
    async with gw(request).sessions() as session:
        groups = await grouped(session, flt, by)
        count, cost = await totals(session, flt)
    return json_response(
        {"object": "list", "group_by": by, "data": groups, "total_count": count, "total_cost_usd": usd(cost)}
    )


async def list_usage(request: Request) -> Response:
    principal = await _caller(request)
    q = request.query_params
    flt = UsageFilter(
        principal.owner,
        since_ms=parse_time_ms(q.get("since"), "since"),
        until_ms=parse_time_ms(q.get("until"), "until"),
        model=q.get("model") or None,
        key_id=q.get("key_id") or None,
        request_id=q.get("request_id") or None,
        kind=q.get("kind") or None,
        team_id=q.get("team_id") or None,
    )
    by = q.get("group_by")
    if by is not None:
        return await _grouped(request, flt, by)
    limit = _limit(q.get("limit"))
    await _flush(request)
    async with gw(request).sessions() as session:
        rows, more = await events(session, flt, limit, newest_first=True)
        count, cost = await totals(session, flt)
    return json_response(
        {
            "object": "list",
            "data": [event_view(r) for r in rows],
            "has_more": more,
            "total_count": count,
            "total_cost_usd": usd(cost),
        }
    )
