"""Compare without streaming: every model concurrently through the chat pipeline, then the judge.

Each model's call is a part of the comparison's ``Call``: a normal chat completion (fallbacks,
billing with ``kind="compare"`` and the request id ``<request id>::<model>``); one model's failure is its result, not
the request's — unless every model failed (502 ``all_models_failed``).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from meshapi_gateway.calls import Call
from meshapi_gateway.compare import request as checks
from meshapi_gateway.compare import results as res
from meshapi_gateway.compare.judge import judge_body
from meshapi_gateway.compare.request import ComparePlan
from meshapi_gateway.errors import GatewayError, field_error
from meshapi_gateway.governance.admission import require_model
from meshapi_gateway.money import money
from meshapi_gateway.routing import auto_select

if TYPE_CHECKING:
    from meshapi_gateway.chat.pipeline import ChatPipeline

KIND = "compare"


def _elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


async def prepare(call: Call, body: dict[str, Any]) -> ComparePlan:
    """The comparison's plan (templates, ``auto`` resolved), every model's balance checked before any is called."""
    state = call.state
    settings = state.settings
    plan = await checks.plan(
        state.chat,
        call.principal,
        body,
        settings.compare_max_models,
        settings.compare_judge_model,
        settings.compare_judge_fallbacks,
    )
    plan = checks.resolve_models(plan, lambda chat: auto_select.resolve(state, call.principal, chat))
    if body.get("comparison_model") and body["comparison_model"] not in state.catalog:
        raise field_error(
            "comparison_model", f"Model '{body['comparison_model']}' is not supported.", value=body["comparison_model"]
        )
    for model in plan.models:
        require_model(call.principal.key, model)  # one model the key may not use refuses the comparison
        if model in state.catalog:
            call.precheck(model)
    return plan


async def run_model(pipeline: "ChatPipeline", call: Call, model: str, body: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    request_id = call.request_id
    try:
        outcome = await pipeline.complete(call.part(res.model_request_id(request_id, model)), body)
    except GatewayError as exc:
        return res.failure(model, request_id, _elapsed_ms(started), exc.code, exc.message)
    data = outcome.response
    choice = (data.get("choices") or [{}])[0]
    return res.success(
        model,
        request_id,
        _elapsed_ms(started),
        res.completion_text(data),
        data.get("usage"),
        money(outcome.cost),
        choice.get("finish_reason"),
        data,
    )


async def judge(
    pipeline: "ChatPipeline", call: Call, plan: ComparePlan, results: list[dict[str, Any]]
) -> dict[str, Any]:
    """The first judge that answers; ``comparison_fallback_used`` when it was not the first choice."""
    answers = [(r["model"], r["content"] or "") for r in results if not r["error_code"]]
    if not plan.judges or len(answers) < 2:
        return {}
    last: GatewayError | None = None
    for position, model in enumerate(plan.judges):
        body = judge_body(model, plan.messages, answers, plan.instructions)
        try:
            outcome = await pipeline.complete(call.part(res.model_request_id(call.request_id, "judge")), body)
        except GatewayError as exc:
            last = exc
            continue
        return {
            "comparison": res.completion_text(outcome.response),
            "comparison_model": outcome.target.entry.id,
            "comparison_usage": outcome.response.get("usage"),
            "comparison_cost": money(outcome.cost),
            "comparison_fallback_used": position > 0 or outcome.target.entry.id != model,
        }
    assert last is not None
    return {
        "comparison_error": last.message,
        "comparison_error_code": last.code,
        "comparison_fallback_used": len(plan.judges) > 1,
    }


async def compare(call: Call, plan: ComparePlan) -> dict[str, Any]:
    started = time.perf_counter()
    pipeline = call.state.chat
    results = list(await asyncio.gather(*(run_model(pipeline, call, m, plan.bodies[m]) for m in plan.models)))
    if all(r["error_code"] for r in results):
        raise res.all_failed(results)
    judged = {} if plan.skip_comparison else await judge(pipeline, call, plan, results)
    return res.envelope(res.comparison_id(), started, plan.models, results, judged, plan.skip_comparison)
