"""Placeholder while the endpoint is being written."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.errors import GatewayError


async def create_response(request: Request) -> Response:
    raise GatewayError("not_implemented", "Not implemented yet.")
