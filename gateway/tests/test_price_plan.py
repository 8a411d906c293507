"""A budgeted call's worst case from a price plan (integers) equals the Decimal one, to the last digit.

The plan is what admission reserves on every budgeted call; ``worst_case`` is the definition.
Prices of any precision, output limits, ``max_tokens`` / ``n`` in the body, embeddings, free
models and batch multipliers are drawn at random.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from meshapi_gateway.catalog import Catalog, ModelEntry
from meshapi_gateway.governance.budgets import units_up
from meshapi_gateway.governance.price_plan import PricePlan
from meshapi_gateway.governance.worst_case import NOT_PROMPT, prompt_bound, worst_case


def _price() -> st.SearchStrategy[Decimal]:
    return st.builds(lambda units, places: Decimal(units).scaleb(-places), st.integers(0, 10**9), st.integers(0, 12))


@st.composite
def entries(draw: Any) -> ModelEntry:
    return ModelEntry(
        id=f"v/m{draw(st.integers(0, 10**6))}",
        provider="openai_compat",
        is_free=draw(st.booleans()),
        model_type=draw(st.sampled_from(["text", "embedding"])),
        max_output_tokens=draw(st.integers(1, 200_000)),
        prompt_usd_per_1m=draw(_price()),
        completion_usd_per_1m=draw(_price()),
    ).finish()


bodies = st.fixed_dictionaries(
    {
        "model": st.just("v/m"),
        "messages": st.lists(st.fixed_dictionaries({"role": st.just("user"), "content": st.text()})),
    },
    optional={
        "max_tokens": st.one_of(st.integers(-5, 100_000), st.none(), st.booleans()),
        "max_completion_tokens": st.integers(-5, 100_000),
        "n": st.one_of(st.integers(-2, 8), st.booleans(), st.text(max_size=2)),
        "stream": st.booleans(),
    },
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(entries(), max_size=4),
    bodies,
    st.sampled_from([Decimal(1), Decimal("0.5"), Decimal("0.25"), Decimal("1.3333")]),
)
def test_the_plan_gives_exactly_the_decimal_worst_case(
    listed: list[ModelEntry], body: dict[str, Any], multiplier: Decimal
) -> None:
    assert PricePlan.of(listed).worst(body, multiplier) == worst_case(body, listed, multiplier)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(entries(), max_size=4),
    bodies,
    st.sampled_from([Decimal(1), Decimal("0.5"), Decimal("1.3333")]),
)
def test_the_counters_reserve_the_worst_case_rounded_up_to_their_unit(
    listed: list[ModelEntry], body: dict[str, Any], multiplier: Decimal
) -> None:
    plan = PricePlan.of(listed)
    assert plan.worst_units(body, multiplier) == units_up(plan.worst(body, multiplier))


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([*NOT_PROMPT, "messages", "max_tokens", "n", "tools", "é"]),
        st.one_of(
            st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.text(), st.lists(st.text(), max_size=3)
        ),
        max_size=8,
    )
)
def test_the_prompt_bound_is_the_body_without_its_gateway_fields_as_compact_json(body: dict[str, Any]) -> None:
    assert prompt_bound(body) == len(orjson.dumps({k: v for k, v in body.items() if k not in NOT_PROMPT}))


def test_a_plan_of_free_or_no_models_reserves_nothing() -> None:
    free = ModelEntry(id="v/free", provider="openai_compat", is_free=True).finish()
    assert PricePlan.of([]).worst({"messages": []}) == 0
    assert PricePlan.of([free]).worst({"messages": [], "max_tokens": 10}) == 0


def test_the_catalogs_version_moves_when_an_entry_is_replaced() -> None:
    """Plans are kept per catalog version: an entry replaced under its id (same size) must change it."""
    first = ModelEntry(id="v/m", provider="openai_compat", prompt_usd_per_1m=Decimal(1)).finish()
    catalog = Catalog([first])
    before = catalog.version
    catalog.add(ModelEntry(id="v/m", provider="openai_compat", prompt_usd_per_1m=Decimal(2)).finish())
    assert len(catalog) == 1 and catalog.version != before


plain_bodies = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["v/m", "v/other", 'v/"q"', "v/é"]),
        "messages": st.lists(st.fixed_dictionaries({"role": st.just("user"), "content": st.text()}), max_size=3),
    },
    optional={
        "max_tokens": st.one_of(st.integers(-5, 100_000), st.none(), st.booleans(), st.text(max_size=2)),
        "max_completion_tokens": st.one_of(st.integers(-5, 100_000), st.none()),
        "max_output_tokens": st.integers(-5, 100_000),
        "n": st.one_of(st.integers(-2, 8), st.booleans(), st.text(max_size=2), st.none()),
        "stream": st.booleans(),
        "user": st.text(max_size=4),
    },
)


@settings(max_examples=600, deadline=None)
@given(st.lists(entries(), max_size=3), plain_bodies, st.sampled_from(["v/m", 'v/"q"', "v/é"]))
def test_the_one_frame_worst_case_of_a_keys_plan_is_the_plans_worst_case(
    listed: list[ModelEntry], body: dict[str, Any], model: str
) -> None:
    """What a key's repeated call reserves (``KeyPlan``) is exactly what its plan's ``worst_units`` gives."""
    from meshapi_gateway.governance.admission import KeyPlan
    from meshapi_gateway.governance.budgets import Budget

    plan = PricePlan.of(listed)
    from meshapi_gateway.governance.budgets import Tally

    kept = KeyPlan(1, model, plan, Budget("key", "k", Decimal(10), "total", 0, None), None, Decimal(1), Tally())
    assert kept.worst_units(body) == plan.worst_units(body)
    with_fallbacks = {**body, "models": ["v/m"]}
    assert kept.worst_units(with_fallbacks) == -1  # the plan is not the one of a call with fallbacks


def test_a_kept_key_plan_stops_at_the_keys_expiry_and_its_budget() -> None:
    """A repeated call admitted from the key's kept plan is still refused once the key has expired, or
    when its budget cannot hold it (the same 401 and 402 as the first call would get)."""
    import time
    from types import SimpleNamespace

    import pytest

    from meshapi_gateway.auth.key_cache import CachedKey
    from meshapi_gateway.auth.principal import Principal
    from meshapi_gateway.calls.call import Call
    from meshapi_gateway.errors import GatewayError
    from meshapi_gateway.governance.admission import HOLD, KEPT, KeyGovernance
    from meshapi_gateway.governance.allowlist import Allowlist
    from meshapi_gateway.governance.budgets import MemoryBudgets
    from meshapi_gateway.routing.router import Router

    entry = ModelEntry(
        id="v/m", provider="openai_compat", prompt_usd_per_1m=Decimal(1), completion_usd_per_1m=Decimal(2)
    ).finish()
    catalog = Catalog([entry])
    state = SimpleNamespace(catalog=catalog, router=Router(catalog, None, None))  # type: ignore[arg-type]
    check = KeyGovernance(MemoryBudgets())
    key = CachedKey("k", "o", False, False, None, None, None, int(time.time()) + 3600, Decimal("0.001"), "total")
    key.models = Allowlist.of(["v/*"])
    body = {"model": "v/m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 100}

    def call() -> Call:
        made = Call(state, "chat", Principal("o", "data", "k", key=key), "r")  # type: ignore[arg-type]
        made.requested, made.body = "v/m", body
        return made

    first = call()
    assert check.decide(first) is True and key.plan is not None
    assert first.reserved[HOLD][1] == PricePlan.of([entry]).worst_units(body)
    second = call()
    assert check.decide(second) is True  # from the kept plan
    assert second.reserved[KEPT][1] == first.reserved[HOLD][1]
    assert check.memory.reserved[key.plan.budget.slot] == 2 * first.reserved[HOLD][1]
    key.plan.until = 0.0  # as when the key's expiry has passed: the long way, which checks it again
    key.expires_at = int(time.time()) - 1
    with pytest.raises(GatewayError) as expired:
        check.decide(call())
    assert expired.value.code == "unauthorized"
    key.expires_at = None
    with pytest.raises(GatewayError) as spent:
        for _ in range(100):
            check.decide(call())
    assert spent.value.code == "spend_limit_exceeded"
