"""The router's attempt loop, step by step: its decisions without a server in between.

The loop runs over a real catalog, router, breakers and retry policy; the attempt it runs
is the router's own seam (``Router.run``'s ``attempt``), scripted per upstream model name.
The same decisions are exercised over HTTP in test_reliability_routing.py and
test_reliability_faults.py.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import pytest

from meshapi_gateway.catalog import load_catalog
from meshapi_gateway.catalog.catalog import ModelEntry
from meshapi_gateway.errors import ContextLengthExceeded, GatewayError, UpstreamError
from meshapi_gateway.providers.base import Provider
from meshapi_gateway.providers.registry import ProviderRegistry
from meshapi_gateway.reliability.policy import RetryBudget, RetryPolicy, Timeouts
from meshapi_gateway.routing import Attempted, Router
from meshapi_gateway.routing.attempt_loop import AttemptLoop, Next, Slot

COMMON = {"provider": "openai_compat", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-test"}


def entry(model_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": model_id, "upstream_model": model_id.split("/")[-1], **COMMON, **extra}


CATALOG = [
    entry("m/a", fallbacks=["m/c"]),
    entry("m/b"),
    entry("m/c"),
    entry("m/two", deployments=[{**COMMON, "upstream_model": "two-b"}]),
    entry("ctx/small", context_length=1000, fallbacks=["ctx/tiny"], context_window_fallbacks=["ctx/large"]),
    entry("ctx/tiny", context_length=500),
    entry("ctx/large", context_length=100_000),
]


def router(max_rounds: int = 2, retry_after_max: float = 10.0) -> Router:
    r = Router(load_catalog(False, "", CATALOG), ProviderRegistry())
    r.retry = RetryPolicy(max_rounds=max_rounds, backoff_base=0.001, backoff_max=0.002, retry_after_max=retry_after_max)
    return r


def unavailable(retry_after: float | None = None) -> UpstreamError:
    return UpstreamError("upstream_error", "scripted 503", status=503, retryable=True, retry_after=retry_after)


def refused() -> UpstreamError:
    return UpstreamError("validation_error", "scripted refusal", status=422)


def too_long() -> UpstreamError:
    return ContextLengthExceeded("validation_error", "the prompt is too long", status=422)


class Script:
    """Each upstream model name answers the next outcome of its list (the last one repeats)."""

    def __init__(self, **outcomes: list[UpstreamError | str]) -> None:
        self.outcomes = outcomes
        self.calls: list[str] = []

    async def __call__(self, provider: Provider, slot: Slot, timeouts: Timeouts, end: float) -> str:
        name = slot.target.upstream_model
        self.calls.append(name)
        plan = self.outcomes.get(name.replace("-", "_"), ["ok"])
        outcome = plan.pop(0) if len(plan) > 1 else plan[0]
        if isinstance(outcome, UpstreamError):
            raise outcome
        return f"{outcome} from {name}"


def run(r: Router, models: list[str], script: Script, **kw: Any) -> tuple[str, str, Attempted]:
    async def go() -> tuple[str, str, Attempted]:
        attempted = Attempted()
        entries = r.candidates(models[0], models[1:])
        target, answer = await r.run(entries, attempted, script, **kw)
        return target.entry.id, answer, attempted

    return asyncio.run(go())


def run_failing(r: Router, models: list[str], script: Script, **kw: Any) -> tuple[GatewayError, Attempted]:
    attempted = Attempted()

    async def go() -> None:
        await r.run(r.candidates(models[0], models[1:]), attempted, script, **kw)

    with pytest.raises(GatewayError) as caught:
        asyncio.run(go())
    return caught.value, attempted


def loop_over(
    r: Router, models: list[str], script: Script, **kw: Any
) -> Callable[[Callable[[AttemptLoop[str]], Awaitable[Any]]], Any]:
    """Run ``step(loop)`` on a fresh loop inside an event loop (the loop needs a running one)."""

    def with_loop(step: Callable[[AttemptLoop[str]], Awaitable[Any]]) -> Any:
        async def go() -> Any:
            loop: AttemptLoop[str] = AttemptLoop(r, r.candidates(models[0], models[1:]), Attempted(), script, **kw)
            return await step(loop)

        return asyncio.run(go())

    return with_loop


# -- order and fallbacks ---------------------------------------------------------------------------


def test_order_is_the_model_then_the_request_fallbacks_then_the_catalog_chain() -> None:
    script = Script(a=[unavailable()], b=[unavailable()], c=["ok"])
    answered, answer, attempted = run(router(), ["m/a", "m/b"], script)
    assert (answered, answer) == ("m/c", "ok from c")
    assert attempted.tried == ["m/a", "m/b", "m/c"]
    assert [a.outcome for a in attempted.attempts] == ["upstream_error", "upstream_error", "ok"]


def test_a_refused_request_is_not_tried_elsewhere() -> None:
    script = Script(a=[refused()])
    error, attempted = run_failing(router(), ["m/a", "m/b"], script)
    assert (error.code, error.status) == ("validation_error", 422)
    assert script.calls == ["a"] and attempted.retry_rounds == 0


def test_a_failing_deployment_falls_to_the_next_deployment_of_the_same_model() -> None:
    script = Script(two=[unavailable()], two_b=[unavailable()])
    error, attempted = run_failing(router(max_rounds=0), ["m/two"], script)
    assert sorted(script.calls) == ["two", "two-b"] and attempted.models() == ["m/two"]
    assert error.code == "upstream_error" and error.status == 503


# -- context window ---------------------------------------------------------------------------------


def test_a_context_length_error_goes_to_a_longer_model_and_skips_shorter_ones() -> None:
    script = Script(small=[too_long()], large=["ok"])
    answered, _, attempted = run(router(), ["ctx/small"], script)
    assert answered == "ctx/large"
    assert attempted.tried == ["ctx/small", "ctx/large"]  # put before ctx/tiny, which is shorter still


def test_shorter_models_stay_skipped_when_the_longer_one_fails() -> None:
    script = Script(small=[too_long()], large=[unavailable()])
    error, attempted = run_failing(router(max_rounds=0), ["ctx/small"], script)
    assert attempted.tried == ["ctx/small", "ctx/large"] and "tiny" not in script.calls
    assert error.code == "upstream_error"


def test_a_context_length_error_does_not_count_against_the_deployment() -> None:
    r = router()
    for _ in range(r.breakers.threshold + 1):
        run(r, ["ctx/small"], Script(small=[too_long()], large=["ok"]))
    assert not r.breakers.open_circuits()


def test_on_failure_names_what_comes_next() -> None:
    r = router()

    async def step(loop: AttemptLoop[str]) -> tuple[Next, Next, list[str]]:
        small = loop.order[0]
        slot = r.slots(small)[0][0]
        loop.position = 1
        after_context = loop.on_failure(small, slot, too_long())
        after_outage = loop.on_failure(small, slot, unavailable())
        return after_context, after_outage, [e.id for e in loop.order]

    context, outage, order = loop_over(r, ["ctx/small"], Script())(step)
    assert (context, outage) == (Next.MODEL, Next.DEPLOYMENT)
    assert order == ["ctx/small", "ctx/large", "ctx/tiny"]


# -- Retry-After ------------------------------------------------------------------------------------


def test_retry_after_sets_the_wait_before_the_next_round() -> None:
    async def step(loop: AttemptLoop[str]) -> float:
        assert await loop.round() is None
        return loop.next_round_delay()

    delay = loop_over(router(), ["m/b"], Script(b=[unavailable(retry_after=5.0)]))(step)
    assert 4.0 <= delay <= 5.0  # the upstream's wait, not the policy's millisecond backoff


def test_retry_after_beyond_the_cap_is_passed_to_the_client() -> None:
    script = Script(b=[UpstreamError("rate_limit_exceeded", "slow down", status=429, retryable=True, retry_after=60.0)])
    error, attempted = run_failing(router(retry_after_max=10.0), ["m/b"], script)
    assert (error.code, error.status, error.retry_after_seconds) == ("rate_limit_exceeded", 429, 60)
    assert script.calls == ["b"] and attempted.retry_rounds == 0


# -- breakers ---------------------------------------------------------------------------------------


def test_an_open_breaker_skips_its_deployment() -> None:
    r = router()
    for _ in range(r.breakers.threshold):
        r.breakers.failure("m/a#0")
    answered, _, attempted = run(r, ["m/a", "m/b"], Script())
    assert answered == "m/b" and attempted.tried == ["m/b"]


def test_every_breaker_open_is_a_503_with_retry_after() -> None:
    r = router()
    for _ in range(r.breakers.threshold):
        r.breakers.failure("m/b#0")
    script = Script()
    error, attempted = run_failing(r, ["m/b"], script)
    assert (error.code, error.status) == ("provider_not_available", 503)
    assert error.retry_after_seconds is not None and error.retry_after_seconds >= 1
    assert script.calls == [] and attempted.tried == []


def test_failures_open_the_breaker() -> None:
    r = router(max_rounds=0)
    for _ in range(r.breakers.threshold):
        run_failing(r, ["m/b"], Script(b=[unavailable()]))
    assert "m/b#0" in r.breakers.open_circuits()


# -- retry rounds and budget ------------------------------------------------------------------------


def test_retry_rounds_try_the_whole_list_again_up_to_the_policy() -> None:
    script = Script(b=[unavailable()])
    error, attempted = run_failing(router(max_rounds=2), ["m/b"], script)
    assert script.calls == ["b", "b", "b"] and attempted.retry_rounds == 2
    assert error.code == "upstream_error"


def test_a_later_round_may_answer() -> None:
    script = Script(b=[unavailable(), "ok"])
    answered, answer, attempted = run(router(max_rounds=2), ["m/b"], script)
    assert (answered, answer, attempted.retry_rounds) == ("m/b", "ok from b", 1)


def test_an_empty_retry_budget_allows_no_further_round() -> None:
    r = router(max_rounds=2)
    r.budget = RetryBudget(ratio=0.0, min_per_second=0.0)
    while r.budget.try_spend():
        pass
    script = Script(b=[unavailable()])
    _, attempted = run_failing(r, ["m/b"], script)
    assert script.calls == ["b"] and attempted.retry_rounds == 0


def test_the_request_deadline_ends_the_loop() -> None:
    async def go() -> tuple[GatewayError, list[str]]:
        r = router()
        script = Script()
        passed = asyncio.get_running_loop().time() - 1
        with pytest.raises(GatewayError) as caught:
            await r.run(r.candidates("m/b"), Attempted(), script, deadline=passed)
        return caught.value, script.calls

    error, calls = asyncio.run(go())
    assert error.code == "gateway_timeout" and calls == []


def test_no_round_starts_past_the_deadline() -> None:
    async def step(loop: AttemptLoop[str]) -> None:
        loop.deadline = asyncio.get_running_loop().time() + 30.0
        assert await loop.round() is None
        loop.next_round_delay()  # the round may not start: the upstream's wait ends after the deadline

    with pytest.raises(GatewayError) as caught:
        loop_over(router(retry_after_max=60.0), ["m/b"], Script(b=[unavailable(retry_after=45.0)]))(step)
    assert caught.value.code == "upstream_error" and caught.value.retry_after_seconds == 45


# -- admission --------------------------------------------------------------------------------------


def test_a_model_refused_by_admission_is_skipped() -> None:
    def admit(candidate: ModelEntry) -> None:
        if candidate.id == "m/a":
            raise GatewayError("spend_limit_exceeded", "no balance for m/a")

    script = Script()
    answered, _, attempted = run(router(), ["m/a", "m/b"], script, admit=admit)
    assert answered == "m/b" and attempted.tried == ["m/b"]
    error, _ = run_failing(
        router(),
        ["m/b"],
        script,
        admit=lambda e: (_ for _ in ()).throw(GatewayError("spend_limit_exceeded", "no balance")),
    )
    assert (error.code, error.status) == ("spend_limit_exceeded", 402)


def test_the_deployment_is_released_after_a_whole_answer_and_kept_by_a_stream() -> None:
    r = router()
    run(r, ["m/b"], Script())
    slot = r.slots(r.catalog.get("m/b"))[0][0]  # type: ignore[arg-type]
    assert slot.in_flight == 0
    run(r, ["m/b"], Script(), keeps_slot=True)
    assert slot.in_flight == 1  # the stream releases it when it ends
