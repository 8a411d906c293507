"""``GET /v1/logs`` and ``GET /v1/logs/{request_id}``: the request log, an owner's own or (the admin) all.

Both first write this process's queued records (bounded by a timeout), so a request just
answered is already listed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response
from meshapi_gateway.api.openapi import EXTRA_PATHS, _op
from meshapi_gateway.api.usage import _limit, parse_time_ms
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.errors import GatewayError, field_error
from meshapi_gateway.observability.log_stats import MAX_BUCKETS, request_stats
from meshapi_gateway.observability.log_store import LogFilter, find_log, list_logs, log_view

FLUSH_WAIT_SECONDS = 5.0

EXTRA_PATHS.update(
    {
        "/v1/logs": {"get": _op("Request log records, newest first, with filters and a cursor")},
        "/v1/stats": {
            "get": _op(
                "Requests, errors, tokens, cost and p50/p99 latency from the request log, per time bucket "
                "(bucket=hour|day) and per model, over since..until (default: the last 24 hours)"
            )
        },
        "/v1/logs/{request_id}": {
            "get": {
                **_op("One request's log record with its attempts and bodies"),
                "parameters": [{"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            }
        },
    }
)


async def _scope(request: Request) -> str | None:
    """The owner whose records the caller may read; ``None`` for the admin (every owner)."""
    principal = await authenticate(gw(request), request.headers.get("authorization"), "any")
    if principal.realm == "admin":
        return request.query_params.get("owner") or None
    return principal.owner


async def _flush(request: Request) -> None:
    writer = gw(request).request_log
    if writer is None:
        raise GatewayError("not_found", "The request log is turned off (request_log.enabled).")
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(writer.flush(), FLUSH_WAIT_SECONDS)


def _int(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise field_error(name, "must be a whole number", value=raw[:50])
    return int(raw)


def _float(raw: str | None, name: str) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e12:  # also false for NaN
        raise field_error(name, "must be a non-negative number of milliseconds", value=raw[:50])
    return value


def _filter(request: Request, owner: str | None) -> LogFilter:
    q = request.query_params
    return LogFilter(
        owner=owner,
        since_ms=parse_time_ms(q.get("since"), "since"),
        until_ms=parse_time_ms(q.get("until"), "until"),
        key_id=q.get("key_id") or None,
        team_id=q.get("team_id") or None,
        model=q.get("model") or None,
        status=_int(q.get("status"), "status"),
        error_code=q.get("error_code") or None,
        min_duration_ms=_float(q.get("min_duration_ms"), "min_duration_ms"),
    )


async def list_request_logs(request: Request) -> Response:
    owner = await _scope(request)
    q = request.query_params
    flt = _filter(request, owner)
    limit = _limit(q.get("limit"))
    await _flush(request)
    async with gw(request).sessions() as session:
        rows, cursor = await list_logs(session, flt, limit, q.get("cursor") or None)
    return json_response(
        {"object": "list", "data": [log_view(r) for r in rows], "has_more": cursor is not None, "next_cursor": cursor}
    )


async def get_request_log(request: Request) -> Response:
    owner = await _scope(request)
    request_id = request.path_params["request_id"]
    await _flush(request)
    async with gw(request).sessions() as session:
        row = await find_log(session, request_id, owner)
    if row is None:
        raise GatewayError("not_found", f"No request log record for '{request_id[:128]}'.")
    return json_response(log_view(row, detail=True))


BUCKETS = {"hour": 3600_000, "day": 86400_000}
DEFAULT_RANGE_MS = 86400_000


async def request_stats_view(request: Request) -> Response:
    owner = await _scope(request)
    q = request.query_params
    flt = _filter(request, owner)
    until_ms = flt.until_ms if flt.until_ms is not None else int(time.time() * 1000) + 1
    since_ms = flt.since_ms if flt.since_ms is not None else until_ms - DEFAULT_RANGE_MS
    bucket = q.get("bucket") or ("hour" if until_ms - since_ms <= 2 * 86400_000 else "day")
    if bucket not in BUCKETS:
        raise field_error("bucket", "must be 'hour' or 'day'", value=bucket[:50])
    if since_ms >= until_ms:
        raise field_error("since", "must be before until", value=q.get("since") or "")
    if (until_ms - since_ms) // BUCKETS[bucket] >= MAX_BUCKETS:
        raise field_error("bucket", f"the range holds more than {MAX_BUCKETS} buckets: use 'day' or a shorter range")
    await _flush(request)
    async with gw(request).sessions() as session:
        stats = await request_stats(session, flt, since_ms, until_ms, BUCKETS[bucket])
    return json_response(stats)
