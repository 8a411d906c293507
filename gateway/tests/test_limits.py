"""Per-key limits end to end, on the in-memory limiter and on a real Redis.

What a client notices: the ``X-RateLimit-*`` headers on every answer, a 429 with
``Retry-After`` and ``retry_after_seconds`` telling the real wait, and (Redis) one limit
shared exactly by two gateways.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Callable

import httpx
import pytest
from gwtest.harness import Gateway

CHAT = {"model": "fake/echo", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(params=["memory", "redis"])
def limited_gateway(request: pytest.FixtureRequest, gateway_factory: Callable[..., Gateway]) -> Gateway:
    if request.param == "redis":
        return gateway_factory(redis_url=request.getfixturevalue("redis_url"))
    return gateway_factory()


def _chat(gw: Gateway, key: str, body: dict[str, Any] | None = None) -> httpx.Response:
    with gw.client(key) as c:
        return c.post("/v1/chat/completions", json=body or CHAT)


def test_rpm_headers_then_429_with_real_wait(limited_gateway: Gateway) -> None:
    gw = limited_gateway
    key = gw.create_key("rl-rpm", rpm=3)
    started = time.time()
    remaining = []
    for _ in range(3):
        r = _chat(gw, key)
        assert r.status_code == 200, r.text
        assert r.headers["x-ratelimit-limit"] == "3"
        remaining.append(int(r.headers["x-ratelimit-remaining"]))
        assert 1 <= int(r.headers["x-ratelimit-reset"]) <= 60
    assert remaining == [2, 1, 0]
    r = _chat(gw, key)
    assert r.status_code == 429
    err = r.json()["error"]
    assert err["code"] == "rate_limit_exceeded"
    assert r.headers["retry-after"] == str(err["retry_after_seconds"])
    # The first request leaves the window 60 s after it was admitted: that is the real wait.
    waited = time.time() - started
    assert 60 - waited - 2 <= err["retry_after_seconds"] <= 60
    assert r.headers["x-ratelimit-remaining"] == "0" and r.headers["x-ratelimit-limit"] == "3"
    assert r.json()["request_id"] == r.headers["x-request-id"]


def test_streams_and_errors_after_the_check_carry_headers(limited_gateway: Gateway) -> None:
    gw = limited_gateway
    key = gw.create_key("rl-headers", rpm=10)
    with gw.client(key) as c:
        with c.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as r:
            assert r.status_code == 200
            assert r.headers["x-ratelimit-remaining"] == "9"
            r.read()
        r = c.post("/v1/chat/completions", json={**CHAT, "model": "fake/no-such-model"})
    assert r.status_code == 404 and r.headers["x-ratelimit-remaining"] == "8"
    with gw.client(key) as c:  # a route served by Starlette's router: its errors get them too
        r = c.post("/v1/embeddings", json={"model": "fake/no-such-model", "input": "x"})
    assert r.status_code == 404 and r.headers["x-ratelimit-remaining"] == "7"


def test_tpm_counts_tokens_used(limited_gateway: Gateway) -> None:
    gw = limited_gateway
    key = gw.create_key("rl-tpm", tpm=12)
    first = _chat(gw, key)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-tokens"] == "12"
    used = first.json()["usage"]["total_tokens"]
    assert used >= 6
    second = _chat(gw, key)
    assert second.status_code == 200
    assert int(second.headers["x-ratelimit-remaining-tokens"]) == 12 - used
    r = _chat(gw, key)
    assert r.status_code == 429
    err = r.json()["error"]
    assert "tokens per minute" in err["message"]
    assert 1 <= err["retry_after_seconds"] <= 60
    assert r.headers["retry-after"] == str(err["retry_after_seconds"])


def test_a_streams_tokens_count_once(limited_gateway: Gateway) -> None:
    """A stream's tokens (its usage chunk's prompt and completion) count toward ``tpm`` once, when it is billed."""
    gw = limited_gateway
    key = gw.create_key("rl-tpm-stream", tpm=1000)
    usage: dict[str, Any] = {}
    with gw.client(key) as c:
        with c.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if line.startswith("data: {") and '"usage"' in line:
                    usage = json.loads(line[len("data: ") :])["usage"] or usage
    used = usage["prompt_tokens"] + usage["completion_tokens"]
    assert used >= 2
    after = _chat(gw, key)
    assert after.status_code == 200
    assert int(after.headers["x-ratelimit-remaining-tokens"]) == 1000 - used


def test_rpd_waits_for_the_day_window(limited_gateway: Gateway) -> None:
    gw = limited_gateway
    key = gw.create_key("rl-rpd", rpd=2, rpm=100)
    assert _chat(gw, key).status_code == 200
    r = _chat(gw, key)
    assert r.status_code == 200 and r.headers["x-ratelimit-limit"] == "2"  # the tighter window is shown
    r = _chat(gw, key)
    assert r.status_code == 429
    assert 86400 - 60 <= r.json()["error"]["retry_after_seconds"] <= 86400
    assert "per day" in r.json()["error"]["message"]


def test_limit_change_applies_at_once(limited_gateway: Gateway) -> None:
    gw = limited_gateway
    token = gw.token("rl-change")
    with gw.client(token) as c:
        created = c.post("/v1/keys", json={"name": "k", "rpm": 1}).json()
    key, key_id = created["key"], created["id"]
    assert _chat(gw, key).status_code == 200
    assert _chat(gw, key).status_code == 429
    with gw.client(token) as c:
        r = c.patch(f"/v1/keys/{key_id}", json={"rpm": 5})
        assert r.status_code == 200 and r.json()["rpm"] == 5
    r = _chat(gw, key)
    assert r.status_code == 200 and r.headers["x-ratelimit-limit"] == "5"
    with gw.client(token) as c:
        assert c.patch(f"/v1/keys/{key_id}", json={"rpm": None}).json()["rpm"] is None
    r = _chat(gw, key)
    assert r.status_code == 200 and "x-ratelimit-limit" not in r.headers


def test_sdk_sees_rate_limit_error(limited_gateway: Gateway) -> None:
    from meshapi import MeshAPI, MeshAPIError

    gw = limited_gateway
    key = gw.create_key("rl-sdk", rpm=1)
    client = MeshAPI(base_url=gw.url, token=key, max_retries=0)
    client.chat.completions.create(model="fake/echo", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(MeshAPIError) as info:
        client.chat.completions.create(model="fake/echo", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status == 429
    assert info.value.error_code == "rate_limit_exceeded"
    assert info.value.retry_after_seconds is not None and info.value.retry_after_seconds > 0


def test_two_gateways_share_one_redis_limit_exactly(
    gateway_factory: Callable[..., Gateway], redis_url: str, tmp_path: Any
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    one = gateway_factory(redis_url=redis_url, database_url=database_url)
    two = gateway_factory(redis_url=redis_url, database_url=database_url)
    key = one.create_key("rl-shared", rpm=7)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(headers={"authorization": f"Bearer {key}"}, timeout=30) as c:
            calls = [c.post(f"{gw.url}/v1/chat/completions", json=CHAT) for gw in (one, two) * 10]
            return [r.status_code for r in await asyncio.gather(*calls)]

    statuses = asyncio.run(burst())
    assert statuses.count(200) == 7 and statuses.count(429) == 13
    # Either gateway now refuses, with the same shared count.
    for gw in (one, two):
        r = _chat(gw, key)
        assert r.status_code == 429 and r.headers["x-ratelimit-remaining"] == "0"


def test_memory_limits_are_per_process(gateway_factory: Callable[..., Gateway], tmp_path: Any) -> None:
    """The reason ``--workers N`` needs Redis: without it each process counts alone."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    one = gateway_factory(database_url=database_url)
    two = gateway_factory(database_url=database_url)
    key = one.create_key("rl-split", rpm=1)
    assert _chat(one, key).status_code == 200
    assert _chat(two, key).status_code == 200
    assert _chat(one, key).status_code == 429


def test_serve_refuses_workers_without_redis(tmp_path: Any) -> None:
    from meshapi_gateway.cli import main

    assert main(["serve", "--workers", "2", "--data-dir", str(tmp_path)]) == 2


def test_serve_with_two_workers_shares_one_limit(tmp_path: Any, redis_url: str, fake_openai: Any) -> None:
    """``serve --workers 2`` with Redis: two real gateway processes, one limit, counted exactly."""
    from gwtest.accounts_support import ADMIN
    from gwtest.gateway_process import GatewayProcess

    gp = GatewayProcess(tmp_path, fake_openai.url, workers=2, redis_url=redis_url, admin_token=ADMIN).start()
    try:
        r = httpx.post(
            gp.url + "/v1/keys", headers={"authorization": f"Bearer {ADMIN}"}, json={"owner": "rl-workers", "rpm": 9}
        )
        key = r.json()["key"]

        assert gp.proc is not None and len(_children(gp.proc.pid)) >= 2  # two worker processes serve

        async def burst() -> list[int]:
            # A fresh connection per request, so both workers accept some of them.
            async def one() -> int:
                async with httpx.AsyncClient(
                    headers={"authorization": f"Bearer {key}", "connection": "close"}, timeout=30
                ) as c:
                    return (await c.post(gp.url + "/v1/chat/completions", json=CHAT)).status_code

            return list(await asyncio.gather(*(one() for _ in range(30))))

        statuses = asyncio.run(burst())
        assert statuses.count(200) == 9 and statuses.count(429) == 21
    finally:
        gp.stop()


def _children(pid: int) -> list[int]:
    from pathlib import Path

    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_redis_outage_lets_requests_through(gateway_factory: Callable[..., Gateway]) -> None:
    """Documented choice: a limiter outage is not a gateway outage."""
    from gwtest.redis_server import RedisServer

    try:
        server = RedisServer().start()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    try:
        gw = gateway_factory(redis_url=server.url)
        key = gw.create_key("rl-outage", rpm=1)
        assert _chat(gw, key).status_code == 200
        assert _chat(gw, key).status_code == 429
    finally:
        server.stop()
    r = _chat(gw, key)
    assert r.status_code == 200 and "x-ratelimit-limit" not in r.headers
