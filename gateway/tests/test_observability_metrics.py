"""``/metrics`` with ``serve --workers 2`` reports the sum over both workers; the JSON access log.

Two real worker processes serve requests over fresh connections (so the kernel spreads
them over both), then every scrape, whichever worker answers it, must count all of them.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gwtest.accounts_support import ADMIN
from gwtest.gateway_process import GatewayProcess

REQUESTS = 24
CHAT = {"model": "fake/echo", "messages": [{"role": "user", "content": "hello"}]}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _key(gp: GatewayProcess, owner: str) -> str:
    r = httpx.post(gp.url + "/v1/keys", headers={"authorization": f"Bearer {ADMIN}"}, json={"owner": owner})
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


async def _burst(url: str, key: str, bodies: list[dict[str, Any]]) -> list[int]:
    async def one(body: dict[str, Any]) -> int:
        # A connection per request, so both workers accept some of them.
        async with httpx.AsyncClient(
            headers={"authorization": f"Bearer {key}", "connection": "close"}, timeout=30
        ) as c:
            return (await c.post(url + "/v1/chat/completions", json=body)).status_code

    return list(await asyncio.gather(*(one(b) for b in bodies)))


def test_two_workers_one_scrape_counts_every_request(tmp_path: Path, redis_url: str, fake_openai: Any) -> None:
    stale = tmp_path / "metrics" / socket.gethostname()
    stale.mkdir(parents=True)
    (stale / "counter_999999.db").write_bytes(b"\0" * 16)  # a previous run's file must not be read
    gp = GatewayProcess(tmp_path, fake_openai.url, workers=2, redis_url=redis_url, admin_token=ADMIN).start()
    try:
        key = _key(gp, "metrics-workers")
        bodies = [CHAT] * (REQUESTS - 4) + [{**CHAT, "stream": True}] * 4 + [{**CHAT, "model": "fake/fail-400"}] * 2
        statuses = asyncio.run(_burst(gp.url, key, bodies))
        assert statuses.count(200) == REQUESTS and statuses.count(422) == 2
        assert not (stale / "counter_999999.db").exists()
        for _ in range(6):  # scrapes on fresh connections land on either worker
            text = httpx.get(gp.url + "/metrics", headers={"connection": "close"}).text
            samples = _samples(text)
            route = (("route", "/v1/chat/completions"), ("status", "200"))
            assert samples[("meshapi_requests_total", route)] == REQUESTS
            ok = (("model", "fake/echo"), ("status", "200"))
            assert samples[("meshapi_model_request_seconds_count", ok)] == REQUESTS
            assert samples[("meshapi_time_to_first_token_seconds_count", ok)] == 4
            failed = (("model", "-"), ("status", "422"))
            assert samples[("meshapi_model_request_seconds_count", failed)] == 2
            tokens = samples[("meshapi_model_requests_total", (("model", "fake/echo"), ("provider", "openai_compat")))]
            assert tokens == REQUESTS
    finally:
        assert gp.stop() == 0


def test_json_access_log_one_line_per_request_without_secrets(tmp_path: Path, fake_openai: Any) -> None:
    gp = GatewayProcess(
        tmp_path, fake_openai.url, admin_token=ADMIN, access_log=True, access_log_format="json", log_level="info"
    ).start()
    try:
        key = _key(gp, "json-log")
        headers = {"authorization": f"Bearer {key}", "user-agent": "obs-test/1"}
        assert httpx.post(gp.url + "/v1/chat/completions", json=CHAT, headers=headers).status_code == 200
        assert (
            httpx.post(
                gp.url + "/v1/chat/completions?api_key=" + key, json={**CHAT, "model": "nope/none"}, headers=headers
            ).status_code
            == 404
        )
        with httpx.stream("POST", gp.url + "/v1/chat/completions", json={**CHAT, "stream": True}, headers=headers) as r:
            assert r.status_code == 200
            r.read()
    finally:
        gp.stop()
    log = gp.log.read_text()
    assert key not in log and ADMIN not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    chats = [line for line in lines if line["path"] == "/v1/chat/completions"]
    assert len(chats) == 3
    ok, missing, streamed = chats
    assert ok["status"] == 200 and ok["model"] == "fake/echo" and ok["owner"] == "json-log"
    assert ok["key_id"] and ok["prompt_tokens"] > 0 and ok["cost"] is not None and ok["user_agent"] == "obs-test/1"
    assert missing["status"] == 404 and missing["error_code"] == "model_not_found"
    assert missing["requested_model"] == "nope/none" and missing["model"] is None
    assert streamed["streamed"] is True and streamed["ttft_ms"] is not None
    assert [line["path"] for line in lines].count("/v1/keys") == 1
