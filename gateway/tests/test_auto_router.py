"""``model: "auto"``: the resolver on its own, then chat, Responses and compare through a real gateway.

The catalog below is served by the fake OpenAI upstream; the models differ in price and
in what they can do, so each request's needs decide which one answers.
"""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal
from typing import Any, Callable

import openai
import pytest

from gwtest.harness import FakeUpstream, Gateway
from meshapi_gateway.catalog import ModelEntry
from meshapi_gateway.routing.auto import Needs, Preference, choose, needs_of

USER = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
IMAGE_MESSAGE = {
    "role": "user",
    "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
    ],
}


def _models(base_url: str) -> list[dict[str, Any]]:
    common = {"provider": "openai_compat", "base_url": base_url, "api_key": "sk-fake", "upstream_model": "echo"}
    return [
        {
            "id": "a/cheap",
            "prompt_usd_per_1m": "0.1",
            "completion_usd_per_1m": "0.2",
            "supports_tools": False,
            "context_length": 8192,
            **common,
        },
        {
            "id": "a/mid",
            "prompt_usd_per_1m": "1",
            "completion_usd_per_1m": "2",
            "context_length": 1000,
            "input_modalities": ["text", "image"],
            **common,
        },
        {
            "id": "a/big",
            "prompt_usd_per_1m": "5",
            "completion_usd_per_1m": "10",
            "context_length": 200000,
            "input_modalities": ["text", "image"],
            "supports_thinking": True,
            **common,
        },
        {
            "id": "a/embed",
            "model_type": "embedding",
            "prompt_usd_per_1m": "0.01",
            "completion_usd_per_1m": "0",
            **common,
        },
    ]


def _entries(raw: list[dict[str, Any]]) -> list[ModelEntry]:
    return [ModelEntry.model_validate(m).finish() for m in raw]


# -- the resolver --------------------------------------------------------------------------------------
def test_cheapest_qualifying_model_wins_and_every_other_says_why() -> None:
    entries = _entries(_models("http://unused"))
    assert choose(entries, needs_of({"messages": USER})).entry.id == "a/cheap"  # type: ignore[union-attr]
    choice = choose(entries, needs_of({"messages": USER, "tools": [TOOL]}))
    assert choice.entry is not None and choice.entry.id == "a/mid"
    dropped = {c.id: c.dropped for c in choice.candidates}
    # Embedding models are not candidates for chat at all.
    assert dropped == {"a/cheap": "no_tools", "a/mid": None, "a/big": None}
    assert choose(entries, needs_of({"messages": [IMAGE_MESSAGE]})).entry.id == "a/mid"  # type: ignore[union-attr]
    thinking = choose(entries, needs_of({"messages": USER, "reasoning_effort": "high"}))
    assert thinking.entry is not None and thinking.entry.id == "a/big"
    # "none" asks for no reasoning, so it needs no thinking model.
    assert choose(entries, needs_of({"messages": USER, "reasoning_effort": "none"})).entry.id == "a/cheap"  # type: ignore[union-attr]


def test_prompt_and_answer_must_fit_the_context() -> None:
    entries = _entries(_models("http://unused"))
    long = [{"role": "user", "content": "word " * 1200}]  # ≈ 1,500 tokens: over a/mid's 1,000
    choice = choose(entries, needs_of({"messages": long, "tools": [TOOL]}))
    assert choice.entry is not None and choice.entry.id == "a/big"
    assert {c.id: c.dropped for c in choice.candidates}["a/mid"] == "context_too_small"
    # max_tokens counts too: a short prompt with a 9,000-token answer fits only a/big.
    assert choose(entries, needs_of({"messages": USER, "max_tokens": 9000})).entry.id == "a/big"  # type: ignore[union-attr]


def test_preference_weights_pool_exclusions_keys_and_health() -> None:
    entries = _entries(_models("http://unused"))
    needs = Needs(prompt_tokens=10)
    assert choose(entries, needs, Preference(prefer=("a/missing", "a/big", "a/mid"))).entry.id == "a/big"  # type: ignore[union-attr]
    # A preferred model that does not qualify is passed over.
    assert choose(entries, Needs(tools=True), Preference(prefer=("a/cheap", "a/mid"))).entry.id == "a/mid"  # type: ignore[union-attr]
    rng = random.Random(7)
    draws = Counter(
        choose(entries, needs, Preference(weights={"a/mid": 3, "a/big": 1}), rng=rng).entry.id  # type: ignore[union-attr]
        for _ in range(400)
    )
    assert set(draws) == {"a/mid", "a/big"} and draws["a/mid"] > draws["a/big"]
    assert choose(entries, needs, Preference(models=("a/mid", "a/big"))).entry.id == "a/mid"  # type: ignore[union-attr]
    excluded = choose(entries, needs, Preference(exclude=("a/cheap",)), exclude=["a/mid"])
    assert excluded.entry is not None and excluded.entry.id == "a/big"
    assert {c.id: c.dropped for c in excluded.candidates} == {"a/cheap": "excluded", "a/mid": "excluded", "a/big": None}
    paid_out = choose(entries, needs, may_use=lambda e: e.id == "a/big")
    assert paid_out.entry is not None and paid_out.entry.id == "a/big"
    assert {c.dropped for c in paid_out.candidates if c.id != "a/big"} == {"not_allowed"}
    sick = choose(entries, needs, healthy=lambda e: False)
    assert sick.entry is None and sick.only_unhealthy
    none = choose(entries, Needs(tools=True), Preference(models=("a/cheap",)))
    assert none.entry is None and not none.only_unhealthy


# -- through the gateway -------------------------------------------------------------------------------
@pytest.fixture
def auto_gw(gateway_factory: Callable[..., Gateway], fake_openai: FakeUpstream) -> Callable[..., Gateway]:
    def make(**overrides: Any) -> Gateway:
        return gateway_factory(**{"models": _models(fake_openai.url), **overrides})

    return make


def test_chat_auto_answers_with_the_model_that_served_and_bills_it(
    auto_gw: Callable[..., Gateway], fake_openai: FakeUpstream
) -> None:
    gw = auto_gw()
    key = gw.create_key("auto-chat")
    with gw.client(key) as c:
        plain = c.post("/v1/chat/completions", json={"model": "auto", "messages": USER})
        assert plain.status_code == 200, plain.text
        assert fake_openai.recorder.last()["body"]["model"] == "echo"
        with_tools = c.post("/v1/chat/completions", json={"model": "meshapi/auto", "messages": USER, "tools": [TOOL]})
    assert plain.json()["model"] == plain.headers["x-resolved-model-id"] == "a/cheap"
    usage = plain.json()["usage"]
    assert (
        Decimal(plain.json()["cost"])
        == (Decimal("0.1") * usage["prompt_tokens"] + Decimal("0.2") * usage["completion_tokens"]) / 10**6
    )
    assert with_tools.status_code == 200, with_tools.text
    assert with_tools.json()["model"] == with_tools.headers["x-resolved-model-id"] == "a/mid"
    # The openai client, streamed: every chunk names the concrete model.
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key)
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=USER,
        stream=True,  # type: ignore[arg-type]
        reasoning_effort="high",
    )
    assert raw.headers["x-resolved-model-id"] == "a/big"
    assert {chunk.model for chunk in raw.parse()} == {"a/big"}


def test_auto_follows_the_configured_preference(auto_gw: Callable[..., Gateway]) -> None:
    gw = auto_gw(auto_router={"prefer": ["a/big"]})
    with gw.client(gw.create_key("auto-pref")) as c:
        r = c.post("/v1/chat/completions", json={"model": "auto", "messages": USER})
    assert r.status_code == 200 and r.json()["model"] == "a/big"


def test_nothing_qualifies_is_a_400_naming_each_reason(auto_gw: Callable[..., Gateway]) -> None:
    gw = auto_gw(auto_router={"models": ["a/cheap"]})
    with gw.client(gw.create_key("auto-none")) as c:
        r = c.post("/v1/chat/completions", json={"model": "auto", "messages": USER, "tools": [TOOL]})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "model_capability_not_supported"
    assert [(d["model"], d["dropped"]) for d in err["details"]] == [("a/cheap", "no_tools")]


def test_auto_skips_a_model_whose_breaker_is_open(
    gateway_factory: Callable[..., Gateway], fake_openai: FakeUpstream
) -> None:
    common = {"provider": "openai_compat", "base_url": fake_openai.url, "api_key": "sk-fake"}
    models = [
        {"id": "h/broken", "upstream_model": "fail-503", "is_free": True, **common},
        {"id": "h/ok", "upstream_model": "echo", "prompt_usd_per_1m": "1", "completion_usd_per_1m": "1", **common},
    ]
    gw = gateway_factory(models=models, breaker_failure_threshold=1, retry_max_rounds=0)
    with gw.client(gw.create_key("auto-health")) as c:
        first = c.post("/v1/chat/completions", json={"model": "auto", "messages": USER})
        second = c.post("/v1/chat/completions", json={"model": "auto", "messages": USER})
    assert first.status_code == 503  # the free model was cheapest and failed
    assert second.status_code == 200 and second.json()["model"] == "h/ok"
    only_broken = gateway_factory(models=models[:1], breaker_failure_threshold=1, retry_max_rounds=0)
    with only_broken.client(only_broken.create_key("auto-health")) as c:
        c.post("/v1/chat/completions", json={"model": "auto", "messages": USER})
        cooling = c.post("/v1/chat/completions", json={"model": "auto", "messages": USER})
    assert cooling.status_code == 503 and cooling.json()["error"]["code"] == "provider_not_available"
    assert int(cooling.headers["retry-after"]) >= 1
    assert cooling.json()["error"]["details"][0]["dropped"] == "unhealthy"


def test_a_used_up_balance_routes_auto_to_a_free_model(
    auto_gw: Callable[..., Gateway], fake_openai: FakeUpstream
) -> None:
    free = {
        "id": "a/free",
        "provider": "openai_compat",
        "base_url": fake_openai.url,
        "api_key": "sk-fake",
        "upstream_model": "echo",
        "is_free": True,
        "supports_tools": False,
    }
    gw = auto_gw(models=[*_models(fake_openai.url), free], billing_enforce=True)
    with gw.client(gw.create_key("auto-broke")) as c:
        plain = c.post("/v1/chat/completions", json={"model": "auto", "messages": USER})
        pinned = c.post("/v1/chat/completions", json={"model": "a/cheap", "messages": USER})
        tools = c.post("/v1/chat/completions", json={"model": "auto", "messages": USER, "tools": [TOOL]})
    assert pinned.status_code == 402
    assert plain.status_code == 200 and plain.json()["model"] == "a/free" and plain.json()["cost"] == "0"
    # Only paid models can call tools here, and the key may not use them.
    assert tools.status_code == 400
    assert {d["model"]: d["dropped"] for d in tools.json()["error"]["details"]}["a/mid"] == "not_allowed"


def test_responses_and_compare_accept_auto(auto_gw: Callable[..., Gateway]) -> None:
    gw = auto_gw()
    key = gw.create_key("auto-more")
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key)
    raw = client.responses.with_raw_response.create(model="auto", input="hi")
    assert raw.headers["x-resolved-model-id"] == "a/cheap"
    assert raw.parse().model == "a/cheap"
    with gw.client(key) as c:
        r = c.post(
            "/v1/chat/compare", json={"models": ["auto", "a/big", "a/cheap"], "messages": USER, "skip_comparison": True}
        )
    assert r.status_code == 200, r.text
    # auto resolved to a/cheap, which the request also names: compared once.
    assert [res["model"] for res in r.json()["results"]] == ["a/cheap", "a/big"]


# -- the preview -----------------------------------------------------------------------------------------
def test_router_select_shows_the_choice_and_why_without_calling_a_model(
    auto_gw: Callable[..., Gateway], fake_openai: FakeUpstream
) -> None:
    gw = auto_gw()
    before = len(fake_openai.recorder.requests)
    with gw.client(gw.create_key("auto-preview")) as c:
        r = c.post("/v1/router/select", json={"messages": USER, "tools": [TOOL]})
        excluded = c.post(
            "/v1/router/select",
            json={
                "messages": USER,
                "exclude_models": ["a/cheap", "a/mid"],
                "api_type": "responses",
                "reasoning_effort": "low",
            },
        )
        empty = c.post("/v1/router/select", json={"messages": []})
        embeddings = c.post("/v1/router/select", json={"messages": USER, "api_type": "embeddings"})
        nothing = c.post("/v1/router/select", json={"messages": [IMAGE_MESSAGE], "exclude_models": ["a/mid", "a/big"]})
        anonymous = httpx_post(gw, "/v1/router/select", {"messages": USER})
    assert len(fake_openai.recorder.requests) == before  # nothing was called
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["model"] == data["resolved_model_id"] == "a/mid"
    assert data["auto_router"] == {"fallback_used": False, "fallback_reason": None}
    assert data["reason"] == "cheapest of 2 qualifying models"
    by_model = {c["model"]: c for c in data["candidates"]}
    assert by_model["a/cheap"]["dropped"] == "no_tools" and "tools" in by_model["a/cheap"]["reason"]
    assert by_model["a/mid"]["selected"] is True and "dropped" not in by_model["a/mid"]
    assert Decimal(by_model["a/big"]["estimated_cost_usd"]) > Decimal(by_model["a/mid"]["estimated_cost_usd"])
    assert excluded.json()["model"] == "a/big" and excluded.json()["reasoning_effort"] == "low"
    assert empty.status_code == 422 and empty.json()["error"]["details"][0]["loc"] == ["body", "messages"]
    assert embeddings.status_code == 422 and embeddings.json()["error"]["details"][0]["loc"] == ["body", "api_type"]
    assert nothing.status_code == 400
    assert {d["model"]: d["dropped"] for d in nothing.json()["error"]["details"]} == {
        "a/cheap": "no_images",
        "a/mid": "excluded",
        "a/big": "excluded",
    }
    assert anonymous.status_code == 401


def httpx_post(gw: Gateway, path: str, body: dict[str, Any]) -> Any:
    with gw.client() as c:
        return c.post(path, json=body)
