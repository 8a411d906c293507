"""A key's budget holds every model a call may fall back to: the request's ``models`` on every
endpoint that takes them (Responses as chat), and a model's context-window fallbacks at every
level (a fallback's own fallback), so concurrent calls never bill more than the budget.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any, Iterator

import httpx
import pytest
from gwtest.accounts_support import ADMIN, ledger_sum
from gwtest.faulty_upstream import FaultyUpstream
from gwtest.harness import FakeUpstream, Gateway, fake_models

# Output-priced only, so a call's worst case (its max tokens at the completion price) is exactly
# its cost. The fake upstream answers "echo: <words>", one completion token per word: 9 here.
PRICEY = {
    "id": "fake/pricey-slow",
    "upstream_model": "slow-0.4",
    "provider": "openai_compat",
    "api_key": "sk-fake",
    "prompt_usd_per_1m": "0",
    "completion_usd_per_1m": "1000",
}
WORDS = "a b c d e f g h"
ONE_CALL = Decimal("0.009")
# A cheap primary that fails (retryable), then the request's own fallback, a thousand times dearer;
# served through chat, or by upstreams with the Responses API (native).
RESPONSES = {"model": "fake/fail-500", "models": ["fake/pricey-slow"], "input": WORDS, "max_output_tokens": 9}
NATIVE = {**RESPONSES, "model": "fake/native-fail", "models": ["fake/native-pricey"]}

# Each model's context is too short for the prompt but its context-window fallback's: the router goes
# ctx/short -> ctx/longer -> ctx/longest. Only the last answers ("answer from longest": 3 tokens), and it
# is the dear one. ctx/longest names ctx/short again: the chain has a cycle to be safe from.
CTX_PRICE = Decimal("0.003")  # 3 tokens at 1000 USD per 1M completion tokens
CTX_CHAT = {"model": "ctx/short", "max_tokens": 3, "messages": [{"role": "user", "content": "hi"}]}


def _ctx_models(url: str) -> list[dict[str, Any]]:
    common = {"provider": "openai_compat", "base_url": url, "api_key": "sk-test", "prompt_usd_per_1m": "0"}
    cheap = {**common, "completion_usd_per_1m": "1"}
    return [
        {"id": "ctx/short", "upstream_model": "short", "context_length": 1000, **cheap,
         "context_window_fallbacks": ["ctx/longer"]},
        {"id": "ctx/longer", "upstream_model": "longer", "context_length": 2000, **cheap,
         "context_window_fallbacks": ["ctx/longest"]},
        {"id": "ctx/longest", "upstream_model": "longest", "context_length": 100_000, **common,
         "completion_usd_per_1m": "1000", "context_window_fallbacks": ["ctx/short"]},
    ]  # fmt: skip


@pytest.fixture(scope="module")
def faulty() -> Iterator[FaultyUpstream]:
    upstream = FaultyUpstream().start()
    upstream.plan("short", then="context")
    upstream.plan("longer", then="context")
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def bgw(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream, faulty: FaultyUpstream) -> Any:
    from gwtest.harness import start_gateway

    native = {**PRICEY, "base_url": fake_openai.url, "supports_responses_api": True}
    models = [
        *fake_models(fake_openai.url),
        {**PRICEY, "base_url": fake_openai.url},
        {**native, "id": "fake/native-pricey", "upstream_model": "echo"},
        {**native, "id": "fake/native-fail", "upstream_model": "fail-500", "completion_usd_per_1m": "1"},
        *_ctx_models(faulty.url),
    ]
    gw = start_gateway(tmp_path_factory.mktemp("budget-fallbacks"), fake_openai.url, admin_token=ADMIN, models=models)
    yield gw
    gw.server.stop()


def _key(url: str, owner: str, budget: Decimal) -> str:
    r = httpx.post(
        url + "/v1/keys", headers={"authorization": f"Bearer {ADMIN}"}, json={"owner": owner, "budget_usd": str(budget)}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


async def _flood(url: str, key: str, path: str, body: dict[str, Any], n: int) -> list[int]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(
        base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=120, limits=limits
    ) as client:
        answers = await asyncio.gather(*(client.post(path, json=body) for _ in range(n)))
    return [r.status_code for r in answers]


def _billed(gw: Gateway, owner: str, calls: int) -> tuple[int, Decimal]:
    """The owner's ledger once ``calls`` rows are in (a row may land just after its answer), or as it is."""
    deadline = time.monotonic() + 10
    found = ledger_sum(gw, owner)
    while found[0] < calls and time.monotonic() < deadline:
        time.sleep(0.05)
        found = ledger_sum(gw, owner)
    return found


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("body", [RESPONSES, NATIVE], ids=["through-chat", "native"])
def test_a_responses_fallback_from_models_is_held_for(bgw: Gateway, body: dict[str, Any], stream: bool) -> None:
    owner = f"bf-responses-{body['model']}-{stream}"
    body = {**body, "stream": stream}
    key = _key(bgw.url, owner, ONE_CALL * 5)
    with bgw.client(key) as c:
        r = c.post("/v1/responses", json=body)
        assert r.status_code == 200 and r.headers["x-resolved-model-id"] == body["models"][0], r.text
    statuses = asyncio.run(_flood(bgw.url, key, "/v1/responses", body, 40))
    assert statuses.count(200) == 4 and statuses.count(402) == 36, sorted(set(statuses))
    assert _billed(bgw, owner, 5) == (5, ONE_CALL * 5)


def test_a_responses_fallback_from_models_is_priced_in_the_402(bgw: Gateway) -> None:
    key = _key(bgw.url, "bf-responses-402", ONE_CALL / 2)
    with bgw.client(key) as c:
        r = c.post("/v1/responses", json=RESPONSES)
    assert r.status_code == 402 and r.json()["error"]["details"][0]["request_max_usd"] == "0.009", r.text
    assert ledger_sum(bgw, "bf-responses-402") == (0, Decimal(0))


def test_every_level_of_context_window_fallbacks_is_held_for(bgw: Gateway) -> None:
    key = _key(bgw.url, "bf-context", CTX_PRICE * 5)
    with bgw.client(key) as c:
        r = c.post("/v1/chat/completions", json=CTX_CHAT)
        assert r.status_code == 200, r.text
        assert r.headers["x-meshapi-fallback"] == "ctx/short,ctx/longer,ctx/longest"
    statuses = asyncio.run(_flood(bgw.url, key, "/v1/chat/completions", CTX_CHAT, 40))
    assert statuses.count(200) == 4 and statuses.count(402) == 36, sorted(set(statuses))
    assert _billed(bgw, "bf-context", 5) == (5, CTX_PRICE * 5)


def test_a_context_window_fallbacks_fallback_is_priced_in_the_402(bgw: Gateway) -> None:
    key = _key(bgw.url, "bf-context-402", CTX_PRICE / 2)
    with bgw.client(key) as c:
        r = c.post("/v1/chat/completions", json=CTX_CHAT)
    assert r.status_code == 402 and r.json()["error"]["details"][0]["request_max_usd"] == "0.003", r.text
    assert ledger_sum(bgw, "bf-context-402") == (0, Decimal(0))
