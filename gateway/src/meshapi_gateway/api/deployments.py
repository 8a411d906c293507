"""``GET /v1/deployments``: every deployment of the catalog with its breaker's state in this process.

Operators (and the console's Models page) need to see which upstream the gateway is avoiding;
the breakers live in memory (shared through Redis when configured), so this reads them, no
database. Upstream URLs and keys are not shown: only the model, the deployment's index, the
provider and the weight.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response
from meshapi_gateway.api.openapi import EXTRA_PATHS, _op
from meshapi_gateway.auth.authenticate import authenticate

EXTRA_PATHS.update(
    {
        "/v1/deployments": {
            "get": _op("Every deployment of every model with its breaker state (closed, open, half_open)")
        }
    }
)


async def list_deployments(request: Request) -> Response:
    state = gw(request)
    await authenticate(state, request.headers.get("authorization"), "any")
    breakers = state.router.breakers
    now = time.time()
    out = []
    for entry in state.catalog:
        for index, deployment in enumerate(entry.all_deployments()):
            key = f"{entry.id}#{index}"
            breaker, until = breakers.state(key, now)
            out.append(
                {
                    "object": "deployment",
                    "id": key,
                    "model": entry.id,
                    "index": index,
                    "provider": deployment.provider,
                    "weight": deployment.weight,
                    "breaker": breaker,
                    "open_until": int(until) if until is not None else None,
                }
            )
    return json_response({"object": "list", "data": out})
