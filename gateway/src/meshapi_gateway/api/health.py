"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import ipaddress

from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway import metrics
from meshapi_gateway.api.common import gw, json_response
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.readiness import local_model_state, node_checks


async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


async def ready(request: Request) -> Response:
    """200 when this node can take traffic (readiness.py), 503 naming what is wrong when it cannot."""
    state = gw(request)
    checks = await node_checks(state)
    report = {"checks": checks, "local_model": local_model_state(state)}
    failing = [name for name, verdict in checks.items() if verdict != "ok"]
    if failing:
        raise GatewayError(
            "provider_not_available", f"Not ready: {', '.join(failing)}.", details=[{"status": "not_ready", **report}]
        )
    return json_response({"status": "ready", **report})


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
        raise GatewayError(
            "unauthorized", "Metrics need the admin token from this address.", headers={"www-authenticate": "Bearer"}
        )
    principal = await authenticate(state, authorization, "any")
    if principal.realm != "admin":
        raise GatewayError("forbidden", "Metrics need the admin token.")
