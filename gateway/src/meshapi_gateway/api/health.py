"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway import metrics
from meshapi_gateway.api.common import gw, json_response
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
    return Response(metrics.render(), media_type="text/plain; version=0.0.4")
