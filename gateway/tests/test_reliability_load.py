"""1,000 streamed requests at concurrency 100 while the primary upstream fails every other call.

The gateway runs in its own process; the faults are the ones that can happen before the
first byte (5xx, 429, resets before and after the headers, a body that is not SSE, a
first event that is not JSON). Every client must get a complete answer (usage chunk and
``[DONE]``, no error frame), and the ledger must hold exactly one row per request, for
the model that answered. The figures are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from gwtest.accounts_support import ADMIN, ledger
from gwtest.faulty_upstream import FaultyUpstream
from gwtest.gateway_process import GatewayProcess

REQUESTS = 1000
CONCURRENCY = 100
FAULTS = ["status:500", "status:503", "reset", "cut:0", "badsse", "status:429:1", "badjson:0", "status:502"]


def _models(url: str) -> list[dict[str, Any]]:
    common = {
        "provider": "openai_compat",
        "base_url": url,
        "api_key": "sk-test",
        "prompt_usd_per_1m": "1",
        "completion_usd_per_1m": "2",
    }
    return [
        {"id": "load/primary", "upstream_model": "primary", "fallbacks": ["load/backup"], **common},
        {"id": "load/backup", "upstream_model": "backup", **common},
    ]


def _check_stream(status: int, text: str) -> tuple[str, bool]:
    """(model that answered, complete?) of one streamed response."""
    assert status == 200, text
    payloads = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    complete = text.endswith("data: [DONE]\n\n") and len(payloads) >= 3 and not any('"error"' in p for p in payloads)
    chunks = [json.loads(p) for p in payloads[:-1]]
    usage = chunks[-1].get("usage") if chunks else None
    model = chunks[0]["model"] if chunks else ""
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    complete = complete and bool(usage) and text == "answer from " + model.split("/")[1]
    return model, complete


@pytest.mark.parametrize("breakers", [False, True], ids=["breakers-off", "breakers-default"])
def test_thousand_streams_with_a_flaky_primary(tmp_path: Path, breakers: bool) -> None:
    upstream = FaultyUpstream().start()
    # Every other call of the primary fails, cycling through the early faults.
    cycle: list[str] = []
    for fault in FAULTS:
        cycle += [fault, "ok"]
    upstream.plan("primary", then=cycle)
    # Breakers off: every request meets the flaky primary, so every other one needs its fallback.
    # Breakers as configured by default: the primary's 50 % error rate opens its circuit, and
    # requests go straight to the fallback for the cooldown.
    off = {} if breakers else {"breaker_failure_threshold": 1_000_000, "breaker_min_requests": 1_000_000}
    gp = GatewayProcess(tmp_path, upstream.url, models=_models(upstream.url), admin_token=ADMIN, **off).start()
    try:
        r = httpx.post(
            gp.url + "/v1/keys",
            headers={"authorization": f"Bearer {ADMIN}"},
            json={"owner": "load-rel", "name": "load"},
        )
        key = r.json()["key"]

        async def drive() -> list[tuple[str, str, bool, str | None]]:
            # aiohttp as the client: httpx's pool costs far more than the gateway at 100 connections.
            gate = asyncio.Semaphore(CONCURRENCY)
            connector = aiohttp.TCPConnector(limit=CONCURRENCY)
            async with aiohttp.ClientSession(
                base_url=gp.url,
                connector=connector,
                headers={"authorization": f"Bearer {key}"},
                timeout=aiohttp.ClientTimeout(total=60),
            ) as c:

                async def one(i: int) -> tuple[str, str, bool, str | None]:
                    body = {
                        "model": "load/primary",
                        "stream": True,
                        "messages": [{"role": "user", "content": f"request {i}"}],
                    }
                    async with gate, c.post("/v1/chat/completions", json=body) as r:
                        text = (await r.read()).decode()
                        model, complete = _check_stream(r.status, text)
                        return r.headers["x-request-id"], model, complete, r.headers.get("x-meshapi-fallback")

                return list(await asyncio.gather(*(one(i) for i in range(REQUESTS))))

        started = time.perf_counter()
        results = asyncio.run(drive())
        wall = time.perf_counter() - started
    finally:
        gp.stop()  # graceful: the ledger is flushed before the process exits
        upstream.stop()
    truncated = [r for r in results if not r[2]]
    fallbacks = sum(1 for r in results if r[3] == "load/primary,load/backup")
    answered = Counter(r[1] for r in results)
    mode = "breakers on" if breakers else "breakers off"
    print(
        f"\nreliability load ({mode}): {REQUESTS} streams at c={CONCURRENCY} in {wall:.2f} s "
        f"({REQUESTS / wall:.0f} req/s); fallbacks {fallbacks}; answered by {dict(answered)}; "
        f"upstream calls {dict(upstream.calls)}"
    )
    assert truncated == []
    assert len({r[0] for r in results}) == REQUESTS
    if breakers:
        assert answered["load/backup"] >= fallbacks and upstream.calls["primary"] < REQUESTS
    else:
        assert answered["load/backup"] == fallbacks
        assert fallbacks >= REQUESTS // 2 - CONCURRENCY  # the cycle interleaves, but about half fall back
    rows = ledger(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}", "load-rel")
    billed = Counter(row.request_id for row in rows)
    assert len(rows) == REQUESTS and set(billed.values()) == {1}
    model_of = {r[0]: r[1] for r in results}
    assert all(row.model == model_of[row.request_id] for row in rows)
