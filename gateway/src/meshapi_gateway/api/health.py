"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import ipaddress

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway import metrics
from meshapi_gateway.api.common import gw, json_response
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.errors import GatewayError


async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


async def ready(request: Request) -> Response:
    state = gw(request)
    checks: dict[str, str] = {}
    try:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports, it does not crash
        checks["database"] = f"error: {type(exc).__name__}"
    for name, service in state.services.items():
        probe = getattr(service, "ready", None)
        if probe is not None:
            checks[name] = "ok" if await probe() else "starting"
    if any(v != "ok" for v in checks.values()):
        raise GatewayError("provider_not_available", "Not ready.", details=[checks])
    return json_response({"status": "ready", "checks": checks})


async def metrics_endpoint(request: Request) -> Response:
    await metrics_allowed(request)
    return Response(metrics.render(), media_type="text/plain; version=0.0.4")


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def metrics_allowed(request: Request) -> None:
    """``metrics_access``: who may read ``/metrics`` (model names, traffic, error rates, spend).

    ``local`` (default): clients on this machine, or the admin token; ``admin``: the admin token
    only; ``open``: anyone; ``off``: nobody (404).
    """
    state = gw(request)
    access = state.settings.metrics_access
    if access == "open":
        return
    if access == "off":
        raise GatewayError("not_found", "Not found.")
    if access == "local" and _is_loopback(request.client.host if request.client else None):
        return
    authorization = request.headers.get("authorization")
    if authorization is None:
        raise GatewayError("unauthorized", "Metrics need the admin token from this address.",
                           headers={"www-authenticate": "Bearer"})
    principal = await authenticate(state, authorization, "any")
    if principal.realm != "admin":
        raise GatewayError("forbidden", "Metrics need the admin token.")
