"""``GET /v1/admin/audit``: the audit log, newest first (admin token only)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response
from meshapi_gateway.api.openapi import EXTRA_PATHS, _op
from meshapi_gateway.api.usage import _limit, parse_time_ms
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.governance.audit import event_view, events

EXTRA_PATHS.update(
    {
        "/v1/admin/audit": {
            "get": _op(
                "Who created, changed, suspended or revoked keys, teams, templates and credits "
                "(admin token; since, until, actor, action, target_id, limit)"
            )
        },
    }
)


async def audit_log(request: Request) -> Response:
    principal = await authenticate(gw(request), request.headers.get("authorization"), "any")
    if principal.realm != "admin":
        raise GatewayError("forbidden", "This endpoint needs the admin token.")
    q = request.query_params
    async with gw(request).sessions() as session:
        rows, more = await events(
            session,
            since_ms=parse_time_ms(q.get("since"), "since"),
            until_ms=parse_time_ms(q.get("until"), "until"),
            actor=q.get("actor") or None,
            action=q.get("action") or None,
            target_id=q.get("target_id") or None,
            limit=_limit(q.get("limit")),
        )
    return json_response({"object": "list", "data": [event_view(r) for r in rows], "has_more": more})
