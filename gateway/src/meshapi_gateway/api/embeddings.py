"""``POST /v1/embeddings``: validate, authenticate, limit, route to the model's provider, bill."""

from __future__ import annotations

from decimal import Decimal

from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response, read_json_object, rid, validate
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.calls import metering
from meshapi_gateway.embeddings import request as checks
from meshapi_gateway.embeddings.response import normalize
from meshapi_gateway.errors import field_error
from meshapi_gateway.routing import Attempted


async def create_embeddings(request: Request) -> Response:
    state = gw(request)
    request_id = rid(request)
    body = await read_json_object(request)
    principal = await authenticate(state, request.headers.get("authorization"), "data")
    limit_headers = await state.limits.check(principal)
    params = validate(checks.EmbeddingsRequest, body)
    assert isinstance(params, checks.EmbeddingsRequest)
    if body.get("input") is None:
        raise field_error("input", "Field required", type_="missing")
    body["input"] = checks.normalize_input(body["input"])
    if not params.model and not params.models:
        raise field_error("model", "Field required", type_="missing")
    entries = state.router.candidates(params.model, params.models)
    checks.check_capability(entries[0])
    checks.check_dimensions(entries[0], params.dimensions)
    entries = [e for e in entries if e.model_type == "embedding"]
    state.billing.precheck(principal, entries[0].id)
    encoding = params.encoding_format or "float"
    attempted = Attempted()
    target, data = await state.router.embeddings(entries, body, state.call_context(request_id), attempted,
                                                 admit=state.billing.admission(principal))
    answer = normalize(data, target.entry.id, encoding, body["input"])
    usage = answer["usage"]
    record = metering.usage_record(principal, request_id, target,
                                   {"prompt_tokens": usage["prompt_tokens"], "completion_tokens": 0}, "embeddings",
                                   Decimal(1))
    metering.bill(state.billing, record)
    await state.limits.add_tokens(principal, usage["total_tokens"])
    headers = {**limit_headers, "x-resolved-model-id": target.entry.id}
    if len(attempted.tried) > 1:
        headers["x-meshapi-fallback"] = ",".join(attempted.tried)
    return json_response(answer, headers=headers)
