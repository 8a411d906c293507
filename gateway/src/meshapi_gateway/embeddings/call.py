"""One embeddings call, the same for ``POST /v1/embeddings`` and a batch item.

Input checks, the plan (model, ``models``, the request's ``timeout``), admission, the
router (fallbacks, retries, breakers), one answer shape, then billing and the call's report
through the ``Call``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from meshapi_gateway.cache.service import hit_target
from meshapi_gateway.calls import answer_headers, metering, plan
from meshapi_gateway.embeddings import request as checks
from meshapi_gateway.embeddings.response import normalize
from meshapi_gateway.errors import field_error
from meshapi_gateway.money import money

if TYPE_CHECKING:
    from meshapi_gateway.calls import Call

from meshapi_gateway.providers.base import Target


@dataclass(slots=True)
class Embedded:
    answer: dict[str, Any]
    target: Target
    cost: Decimal
    headers: dict[str, str]  # ``x-resolved-model-id``, ``x-meshapi-fallback``


async def embed(call: Call, body: dict[str, Any], *, with_cost: bool = False) -> Embedded:
    """The normalized answer; ``with_cost`` puts the call's cost into it (batch items carry it; the
    live endpoint's answer is OpenAI's shape)."""
    if body.get("input") is None:
        raise field_error("input", "Field required", type_="missing")
    body = {**body, "input": checks.normalize_input(body["input"])}
    if not body.get("model") and not body.get("models"):
        raise field_error("model", "Field required", type_="missing")
    planned = plan(call.state.router, body)
    checks.check_capability(planned.entries[0])
    checks.check_dimensions(planned.entries[0], body.get("dimensions"))
    entries = [e for e in planned.entries if e.model_type == "embedding"]
    await call.admit(entries[0].id, body)
    state = call.state
    target: Target | None = None
    usage: dict[str, Any] | None = None
    cost: Decimal | None = None
    error: BaseException | None = None
    try:
        cache = state.response_cache
        looked = await cache.lookup(call, body, "embeddings") if cache is not None and cache.applies(body) else None
        if cache is not None and looked is not None and looked.answer is not None:
            target = hit_target(entries, looked.model)
            answer = {**looked.answer, "model": target.entry.id}
            usage = answer.get("usage") or {}
            cost = call.meter_hit(
                target,
                {"prompt_tokens": usage.get("prompt_tokens") or 0, "completion_tokens": 0},
                cache.settings.hit_cost_fraction,
            )
            if with_cost:
                answer["cost"] = money(cost)
            return Embedded(answer, target, cost, answer_headers(target, call.attempted))
        try:
            target, data = await state.router.embeddings(
                entries,
                body,
                state.call_context(call.request_id),
                call.attempted,
                deadline=planned.deadline,
                admit=call.candidate_admit(entries),
            )
        finally:
            metering.count_upstream_errors(call.attempted)
        answer = normalize(data, target.entry.id, body.get("encoding_format") or "float", body["input"])
        usage = answer["usage"]
        if cache is not None and looked is not None:
            await cache.save(looked, target.entry.id, answer)
        cost = await call.meter(
            target,
            {"prompt_tokens": usage["prompt_tokens"], "completion_tokens": 0},
            tokens=int(usage.get("total_tokens") or 0),
        )
        if with_cost:
            answer["cost"] = money(cost)
        return Embedded(answer, target, cost, answer_headers(target, call.attempted))
    except BaseException as exc:
        error = exc
        raise
    finally:
        call.finish(target=target, usage=usage, cost=cost, error=error)
