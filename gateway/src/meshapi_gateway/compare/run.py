"""Compare without streaming: every model concurrently through the chat pipeline, then the judge.

Each call is a normal chat completion (limits, fallbacks, billing with ``kind="compare"``
and the request id ``<request id>::<model>``); one model's failure is its result, not
the request's — unless every model failed (502 ``all_models_failed``).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from meshapi_gateway.calls import Call
from meshapi_gateway.compare import results as res
from meshapi_gateway.compare.judge import judge_body
from meshapi_gateway.compare.request import ComparePlan
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.money import money

if TYPE_CHECKING:
    from meshapi_gateway.auth.principal import Principal
    from meshapi_gateway.chat.pipeline import ChatPipeline

KIND = "compare"


def _elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


async def run_model(pipeline: "ChatPipeline", principal: "Principal", model: str, body: dict[str, Any],
                    request_id: str) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        outcome = await pipeline.complete(Call(pipeline.state, KIND, principal,
                                               res.model_request_id(request_id, model)), body)
    except GatewayError as exc:
        return res.failure(model, request_id, _elapsed_ms(started), exc.code, exc.message)
    data = outcome.response
    choice = (data.get("choices") or [{}])[0]
    return res.success(model, request_id, _elapsed_ms(started), res.completion_text(data), data.get("usage"),
                       money(outcome.cost), choice.get("finish_reason"), data)


async def judge(pipeline: "ChatPipeline", principal: "Principal", plan: ComparePlan, results: list[dict[str, Any]],
                request_id: str) -> dict[str, Any]:
    """The first judge that answers; ``comparison_fallback_used`` when it was not the first choice."""
    answers = [(r["model"], r["content"] or "") for r in results if not r["error_code"]]
    if not plan.judges or len(answers) < 2:
        return {}
    last: GatewayError | None = None
    for position, model in enumerate(plan.judges):
        body = judge_body(model, plan.messages, answers, plan.instructions)
        try:
            outcome = await pipeline.complete(Call(pipeline.state, KIND, principal,
                                                   res.model_request_id(request_id, "judge")), body)
        except GatewayError as exc:
            last = exc
            continue
        return {"comparison": res.completion_text(outcome.response), "comparison_model": outcome.target.entry.id,
                "comparison_usage": outcome.response.get("usage"), "comparison_cost": money(outcome.cost),
                "comparison_fallback_used": position > 0 or outcome.target.entry.id != model}
    assert last is not None
    return {"comparison_error": last.message, "comparison_error_code": last.code,
            "comparison_fallback_used": len(plan.judges) > 1}


async def compare(pipeline: "ChatPipeline", principal: "Principal", plan: ComparePlan,
                  request_id: str) -> dict[str, Any]:
    started = time.perf_counter()
    results = list(await asyncio.gather(*(run_model(pipeline, principal, m, plan.bodies[m], request_id)
                                          for m in plan.models)))
    if all(r["error_code"] for r in results):
        raise res.all_failed(results)
    judged = {} if plan.skip_comparison else await judge(pipeline, principal, plan, results, request_id)
    return res.envelope(res.comparison_id(), started, plan.models, results, judged, plan.skip_comparison)
