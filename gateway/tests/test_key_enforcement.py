"""A key's terms enforced on the data plane: model allowlists (fallbacks skipped, compare refused),
budgets reserved at their worst case (402 naming the budget and its reset), exact under
concurrency in one process and across two processes sharing Redis.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
from gwtest.accounts_support import ADMIN, ledger_sum
from gwtest.batch_support import chat_line, jsonl, parse_jsonl, wait_batch
from gwtest.gateway_process import GatewayProcess
from gwtest.harness import FakeUpstream, Gateway, fake_models

# Output-priced only, so a call's worst case (max_tokens at the completion price) is exactly its cost:
# the fake upstream answers "echo: <words>" and counts one completion token per word.
PRICEY = {
    "id": "fake/pricey-slow",
    "upstream_model": "slow-0.4",
    "provider": "openai_compat",
    "api_key": "sk-fake",
    "prompt_usd_per_1m": "0",
    "completion_usd_per_1m": "1000",
}
WORDS = "a b c d e f g h"  # the answer is 9 words: 9 tokens, 0.009 USD
ONE_CALL = Decimal("0.009")
PRICEY_CHAT = {"model": PRICEY["id"], "max_tokens": 9, "messages": [{"role": "user", "content": WORDS}]}
CHAT = {"model": "fake/echo", "messages": [{"role": "user", "content": "hi"}]}


def _models(upstream: FakeUpstream) -> list[dict[str, Any]]:
    return [*fake_models(upstream.url), {**PRICEY, "base_url": upstream.url}]


@pytest.fixture(scope="module")
def egw(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream) -> Any:
    from gwtest.harness import start_gateway

    gw = start_gateway(
        tmp_path_factory.mktemp("enforce"), fake_openai.url, admin_token=ADMIN, models=_models(fake_openai)
    )
    yield gw
    gw.server.stop()


def _key(url: str, owner: str, **terms: Any) -> dict[str, Any]:
    r = httpx.post(url + "/v1/keys", headers={"authorization": f"Bearer {ADMIN}"}, json={"owner": owner, **terms})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_model_outside_the_allowlist_is_403_naming_it(egw: Gateway, fake_openai: FakeUpstream) -> None:
    key = _key(egw.url, "enf-models", models=["fake/echo", "fake/embed"])["key"]
    with egw.client(key) as c:
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 200
        for path, body in (
            ("/v1/chat/completions", {**CHAT, "model": "fake/tools"}),
            ("/v1/chat/completions", {**CHAT, "model": "fake/tools", "stream": True}),
            ("/v1/responses", {"model": "fake/tools", "input": "hi"}),
            ("/v1/chat/compare", {"models": ["fake/echo", "fake/tools"], "messages": CHAT["messages"]}),
        ):
            r = c.post(path, json=body)
            assert r.status_code == 403, (path, r.text)
            err = r.json()["error"]
            assert err["code"] == "forbidden" and "fake/tools" in err["message"], (path, err)


def test_embeddings_are_held_to_the_allowlist(egw: Gateway) -> None:
    key = _key(egw.url, "enf-embed", models=["fake/echo"])["key"]
    with egw.client(key) as c:
        r = c.post("/v1/embeddings", json={"model": "fake/embed", "input": "hi"})
        assert r.status_code == 403 and "fake/embed" in r.json()["error"]["message"], r.text


def test_vendor_patterns_allow_a_whole_vendor(egw: Gateway) -> None:
    key = _key(egw.url, "enf-vendor", models=["fake/*"])["key"]
    with egw.client(key) as c:
        assert c.post("/v1/chat/completions", json={**CHAT, "model": "fake/tools"}).status_code == 200
    key = _key(egw.url, "enf-vendor", models=["other/*"])["key"]
    with egw.client(key) as c:
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 403


def test_a_fallback_outside_the_allowlist_is_skipped(egw: Gateway, fake_openai: FakeUpstream) -> None:
    key = _key(egw.url, "enf-fallback", models=["fake/echo"])["key"]
    fake_openai.recorder.clear()
    with egw.client(key) as c:
        r = c.post("/v1/chat/completions", json={**CHAT, "model": "fake/fail-500", "models": ["fake/echo"]})
        assert r.status_code == 200 and r.headers["x-resolved-model-id"] == "fake/echo"
    assert [q["body"]["model"] for q in fake_openai.recorder.requests] == ["echo"]  # fail-500 never tried
    key = _key(egw.url, "enf-fallback", models=["fake/flaky"])["key"]  # its catalog fallback is fake/echo
    with egw.client(key) as c:
        r = c.post("/v1/chat/completions", json={**CHAT, "model": "fake/flaky"})
        assert r.status_code != 200 and r.headers.get("x-resolved-model-id") != "fake/echo"


def test_a_budgeted_keys_fallbacks_outside_the_allowlist_are_skipped(egw: Gateway, fake_openai: FakeUpstream) -> None:
    # A budgeted key's admission clears the models its allowlist lets through and the router then skips the
    # per-candidate check: a candidate it did not clear is still checked, also on the calls a kept plan admits.
    key = _key(egw.url, "enf-budget-fallback", models=["fake/echo"], budget_usd="100")["key"]
    with egw.client(key) as c:
        for _ in range(2):
            fake_openai.recorder.clear()
            r = c.post("/v1/chat/completions", json={**CHAT, "model": "fake/fail-500", "models": ["fake/echo"]})
            assert r.status_code == 200 and r.headers["x-resolved-model-id"] == "fake/echo"
            assert [q["body"]["model"] for q in fake_openai.recorder.requests] == ["echo"]  # fail-500 never tried
    key = _key(egw.url, "enf-budget-fallback", models=["fake/flaky"], budget_usd="100")["key"]
    with egw.client(key) as c:
        for _ in range(2):
            r = c.post("/v1/chat/completions", json={**CHAT, "model": "fake/flaky"})  # its catalog fallback: fake/echo
            assert r.status_code != 200 and r.headers.get("x-resolved-model-id") != "fake/echo"
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 403


def test_over_budget_is_402_naming_the_budget_and_its_reset(egw: Gateway) -> None:
    made = _key(egw.url, "enf-budget", budget_usd="0.02", budget_period="daily")
    with egw.client(made["key"]) as c:
        assert c.post("/v1/chat/completions", json=PRICEY_CHAT).status_code == 200
        assert c.post("/v1/chat/completions", json=PRICEY_CHAT).status_code == 200
        r = c.post("/v1/chat/completions", json=PRICEY_CHAT)  # 0.018 spent, 0.009 more would pass 0.02
        assert r.status_code == 402, r.text
        err = r.json()["error"]
        assert err["code"] == "spend_limit_exceeded"
        assert "daily budget of 0.02 USD" in err["message"] and made["id"] in err["message"]
        detail = err["details"][0]
        assert (detail["budget"], detail["spend_usd"], detail["budget_usd"]) == ("key", "0.018", "0.02")
        assert detail["resets_at"] and detail["resets_at"] in err["message"]
        # A smaller worst case still fits what is left; a free model runs at any spend.
        small = {**PRICEY_CHAT, "max_tokens": 2, "messages": [{"role": "user", "content": "a"}]}  # "echo: a"
        assert c.post("/v1/chat/completions", json=small).status_code == 200
        assert c.post("/v1/chat/completions", json={**CHAT, "model": "fake/free-echo"}).status_code == 200
    with egw.client(ADMIN) as c:
        view = c.get(f"/v1/keys/{made['id']}").json()
    assert Decimal(view["spend_usd"]) == Decimal("0.02")
    assert ledger_sum(egw, "enf-budget")[1] == Decimal(view["spend_usd"])


def test_each_call_is_priced_for_the_model_it_asks_when_a_key_switches_models(egw: Gateway) -> None:
    # The key keeps the plan of its last model: asking another one in turn must price that one.
    key = _key(egw.url, "enf-switch", budget_usd="0.005")["key"]
    free = {**CHAT, "model": "fake/free-echo"}
    with egw.client(key) as c:
        for _ in range(2):
            assert c.post("/v1/chat/completions", json=free).status_code == 200
            r = c.post("/v1/chat/completions", json=PRICEY_CHAT)
            assert r.status_code == 402 and r.json()["error"]["details"][0]["request_max_usd"] == "0.009"


def test_the_worst_case_without_max_tokens_is_the_models_output_limit(egw: Gateway) -> None:
    # fake/pricey-slow's output limit is the catalog default, 4096 tokens: 4.096 USD at most.
    key = _key(egw.url, "enf-limit", budget_usd="4")["key"]
    body = {k: v for k, v in PRICEY_CHAT.items() if k != "max_tokens"}
    with egw.client(key) as c:
        r = c.post("/v1/chat/completions", json=body)
        assert r.status_code == 402 and r.json()["error"]["details"][0]["request_max_usd"] == "4.096"
        assert c.post("/v1/chat/completions", json={**body, "max_tokens": 4000}).status_code == 200


def test_a_failed_call_releases_its_reservation(egw: Gateway) -> None:
    key = _key(egw.url, "enf-release", budget_usd="0.009")["key"]
    with egw.client(key) as c:
        for _ in range(3):  # each holds the whole budget while it runs, and frees it when it fails
            r = c.post("/v1/chat/completions", json={**PRICEY_CHAT, "model": "fake/fail-500"})
            assert r.status_code != 402, r.text
        assert c.post("/v1/chat/completions", json=PRICEY_CHAT).status_code == 200


async def _flood(urls: list[str], key: str, n: int) -> list[int]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    clients = [
        httpx.AsyncClient(base_url=u, headers={"authorization": f"Bearer {key}"}, timeout=120, limits=limits)
        for u in urls
    ]
    try:
        answers = await asyncio.gather(
            *(clients[i % len(clients)].post("/v1/chat/completions", json=PRICEY_CHAT) for i in range(n))
        )
    finally:
        for client in clients:
            await client.aclose()
    return [r.status_code for r in answers]


def test_200_concurrent_requests_never_bill_more_than_the_budget(egw: Gateway) -> None:
    made = _key(egw.url, "enf-flood", budget_usd=str(ONE_CALL * 50))
    statuses = asyncio.run(_flood([egw.url], made["key"], 200))
    assert statuses.count(200) == 50 and statuses.count(402) == 150, sorted(set(statuses))
    assert ledger_sum(egw, "enf-flood") == (50, ONE_CALL * 50)


def test_two_processes_sharing_redis_never_bill_more_than_the_budget(
    tmp_path: Path, fake_openai: FakeUpstream, redis_url: str
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    settings = {
        "admin_token": ADMIN,
        "models": _models(fake_openai),
        "database_url": database_url,
        "redis_url": redis_url,
    }
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = GatewayProcess(tmp_path / "one", fake_openai.url, **settings)
    two = GatewayProcess(tmp_path / "two", fake_openai.url, **settings)
    one.start()
    try:
        two.start()
        try:
            made = _key(one.url, "enf-shared", budget_usd=str(ONE_CALL * 50))
            statuses = asyncio.run(_flood([one.url, two.url], made["key"], 200))
        finally:
            two.stop()
    finally:
        one.stop()
    # A process that could not reserve in Redis says so in its log: shown when the count is off.
    warnings = [line for g in (one, two) for line in g.log.read_text().splitlines() if "budget" in line.lower()]
    assert statuses.count(200) == 50 and statuses.count(402) == 150, (sorted(set(statuses)), warnings[:10])
    assert ledger_sum(database_url, "enf-shared") == (50, ONE_CALL * 50)


def test_key_cache_unknown_key_on_the_second_process(gateway_factory: Callable[..., Gateway]) -> None:
    """A key made on one replica is usable (with its terms) on another at once."""
    one = gateway_factory(admin_token=ADMIN)
    made = _key(one.url, "enf-replica", models=["fake/echo"])
    two = gateway_factory(admin_token=ADMIN, database_url=one.settings.resolved_database_url())
    with two.client(made["key"]) as c:
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 200
        assert c.post("/v1/chat/completions", json={**CHAT, "model": "fake/tools"}).status_code == 403


def test_batch_items_are_held_to_the_allowlist(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory(admin_token=ADMIN, batch_poll_seconds=0.2, batch_max_attempts=1)
    key = _key(gw.url, "enf-batch", models=["fake/echo"])["key"]
    lines = [chat_line("allowed"), chat_line("outside", model="fake/tools")]
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {key}"}, timeout=30) as c:
        uploaded = c.post("/v1/files", files={"file": ("in.jsonl", jsonl(lines))}, data={"purpose": "batch"})
        assert uploaded.status_code == 200, uploaded.text
        body = {"input_file_id": uploaded.json()["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        done = wait_batch(c, c.post("/v1/batches", json=body).json()["id"])
        assert done["request_counts"] == {"total": 2, "completed": 1, "failed": 1}
        errors = parse_jsonl(c.get(f"/v1/files/{done['error_file_id']}/content").content)
    assert [e["custom_id"] for e in errors] == ["outside"]
    error = errors[0]["response"]["body"]["error"]
    assert (
        errors[0]["response"]["status_code"] == 403
        and error["code"] == "forbidden"
        and "fake/tools" in error["message"]
    )
