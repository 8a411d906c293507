"""``POST /v1/router/select``: which model ``model: "auto"`` would choose for these messages, and why.

Nothing is called and nothing is billed; the answer is the 0.1.11 SDK's
``RouterSelectResponse`` plus the candidates and the reason each was left out.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response, read_json_object, validate
from meshapi_gateway.api.openapi import EXTRA_PATHS, _op
from meshapi_gateway.api.schemas import Message, Tool
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.errors import field_error
from meshapi_gateway.routing import auto_select


class RouterSelectRequest(BaseModel):
    # Open: any chat field may ride along (the choice reads tools, response_format, reasoning_effort, max_tokens).
    model_config = ConfigDict(extra="allow")

    messages: list[Message] = Field(min_length=1, max_length=10_000)
    api_type: Literal["completions", "responses", "embeddings"] = "completions"
    exclude_models: Optional[list[str]] = Field(None, max_length=1000)
    tools: Optional[list[Tool]] = None
    max_tokens: Optional[int] = Field(None, ge=1)
    reasoning_effort: Optional[Literal["high", "medium", "low", "minimal", "none"]] = None


EXTRA_PATHS["/v1/router/select"] = {
    "post": _op(
        'Which model `model: "auto"` would choose, and why (no model is called)',
        RouterSelectRequest.model_json_schema(),
    )
}


async def router_select(request: Request) -> Response:
    state = gw(request)
    body = await read_json_object(request)
    principal = await authenticate(state, request.headers.get("authorization"), "data")
    params = validate(RouterSelectRequest, body)
    assert isinstance(params, RouterSelectRequest)
    if params.api_type == "embeddings":
        raise field_error(
            "api_type", "The auto router chooses chat models; name an embedding model instead.", value="embeddings"
        )
    choice = auto_select.select(state, principal, body, api=params.api_type, exclude=params.exclude_models or ())
    if choice.entry is None:
        raise auto_select.no_model(choice, auto_select.cooling_down_for(state))
    chosen = choice.entry.id
    return json_response(
        {
            "model": chosen,
            "resolved_model_id": chosen,
            "auto_router": {"fallback_used": False, "fallback_reason": None},
            "reasoning_effort": params.reasoning_effort,
            "reason": choice.why,
            "candidates": [c.wire(chosen) for c in choice.candidates],
        }
    )
