"""The ledger under load, against a gateway in its own process.

10,000 concurrent requests (streamed and not) leave exactly 10,000 ledger rows whose sum
is the balance change and the sum of the ``cost`` values the client saw. Stopping the
gateway mid-load (SIGTERM, as a process manager does) loses no completed request's row.

The load is driven by aiohttp's client at bounded concurrency: measured here, httpx's
async client spends about 3.3 ms of CPU per request against aiohttp's 0.26 ms, which
would make the client, not the gateway, the slow part of the run. The upstream is the
lean fake (``gwtest.lean_upstream``) for the same reason.
"""

from __future__ import annotations

import asyncio
import json
import signal
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import httpx
import pytest
from gwtest.accounts_support import ADMIN, ledger, ledger_sum, stored_balance
from gwtest.gateway_process import GatewayProcess
from gwtest.lean_upstream import lean_app
from gwtest.server_thread import ServerThread

CONCURRENCY = 32
MODEL = "load/lean"


@pytest.fixture(scope="module")
def lean_models() -> Iterator[list[dict[str, Any]]]:
    server = ServerThread(lean_app).start()
    yield [{"id": MODEL, "upstream_model": "lean", "provider": "openai_compat", "base_url": server.url + "/v1",
            "api_key": "sk-fake", "prompt_usd_per_1m": "1.25", "completion_usd_per_1m": "3.1"}]
    server.stop()


def _cost(content_type: str, text: str) -> Decimal:
    if content_type.startswith("text/event-stream"):
        payloads = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
        assert payloads[-1] == "[DONE]"
        return Decimal(json.loads(payloads[-2])["cost"])
    return Decimal(json.loads(text)["cost"])


def _body(i: int) -> dict[str, Any]:
    # Different lengths give different costs, so a lost or doubled row changes the sum.
    return {"model": MODEL, "stream": i % 5 == 0, "messages": [{"role": "user", "content": "w " * (i % 11 + 1)}]}


def _setup(gp: GatewayProcess, owner: str, usd: str) -> str:
    admin = {"authorization": f"Bearer {ADMIN}"}
    assert httpx.post(gp.url + "/v1/admin/credits", headers=admin, json={"owner": owner, "usd": usd}).status_code == 200
    r = httpx.post(gp.url + "/v1/keys", headers=admin, json={"owner": owner, "name": "load"})
    assert r.status_code == 201
    return str(r.json()["key"])


def _session(gp: GatewayProcess, key: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(gp.url, headers={"authorization": f"Bearer {key}"},
                                 connector=aiohttp.TCPConnector(limit=CONCURRENCY),
                                 timeout=aiohttp.ClientTimeout(total=60))


def test_ten_thousand_requests_balance_equals_ledger(tmp_path: Path, lean_models: list[dict[str, Any]]) -> None:
    gp = GatewayProcess(tmp_path, "", admin_token=ADMIN, models=lean_models).start()
    try:
        key = _setup(gp, "load-10k", "5")

        async def drive() -> list[Decimal]:
            gate = asyncio.Semaphore(CONCURRENCY)
            async with _session(gp, key) as c:
                async def one(i: int) -> Decimal:
                    async with gate, c.post("/v1/chat/completions", json=_body(i)) as r:
                        text = await r.text()
                        assert r.status == 200, text
                        return _cost(r.headers["content-type"], text)

                return list(await asyncio.gather(*(one(i) for i in range(10_000))))

        costs = asyncio.run(drive())
        spent = sum(costs, Decimal(0))
        assert len(set(costs)) > 5  # the costs really differ
        with httpx.Client(base_url=gp.url, headers={"authorization": f"Bearer {key}"}) as c:
            balance = c.get("/v1/balance").json()
            usage = c.get("/v1/usage", params={"limit": "1"}).json()
        assert Decimal(balance["available_usd"]) == Decimal(5) - spent
        assert usage["total_count"] == 10_000 and Decimal(usage["total_cost_usd"]) == spent
    finally:
        gp.stop()
    database = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    assert ledger_sum(database, "load-10k") == (10_000, spent)
    final = stored_balance(database, "load-10k")
    assert final == Decimal(5) - spent  # exact, so also to the cent


def test_graceful_stop_mid_load_keeps_every_completed_row(tmp_path: Path, lean_models: list[dict[str, Any]]) -> None:
    # Nothing is written before the stop: a long flush interval and one big batch.
    gp = GatewayProcess(tmp_path, "", admin_token=ADMIN, models=lean_models, ledger_flush_seconds=120,
                        ledger_batch_size=5000).start()
    key = _setup(gp, "load-stop", "5")
    completed: dict[str, Decimal] = {}

    async def drive() -> None:
        gate = asyncio.Semaphore(CONCURRENCY)
        stopped = asyncio.Event()
        async with _session(gp, key) as c:
            async def one(i: int) -> None:
                async with gate:
                    if stopped.is_set() and i % 4:
                        return  # after the stop, keep only a trickle of late requests
                    try:
                        async with c.post("/v1/chat/completions", json=_body(i)) as r:
                            text = await r.text()
                            if r.status == 200:
                                completed[r.headers["x-request-id"]] = _cost(r.headers["content-type"], text)
                    except (aiohttp.ClientError, asyncio.TimeoutError):
                        return  # refused or cut by the stopping server: not completed
                if len(completed) >= 1000 and not stopped.is_set():
                    stopped.set()
                    assert gp.proc is not None
                    gp.proc.send_signal(signal.SIGTERM)

            await asyncio.gather(*(one(i) for i in range(4000)))

    asyncio.run(drive())
    assert gp.proc is not None
    # It exits by itself after the graceful stop (a second signal would force an exit without the flush).
    assert gp.proc.wait(timeout=60) is not None
    assert len(completed) >= 1000
    database = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    rows = {r.request_id: Decimal(r.cost_usd) for r in ledger(database, "load-stop")}
    missing = set(completed) - set(rows)
    assert not missing, f"{len(missing)} completed requests have no ledger row"
    assert all(rows[rid] == cost for rid, cost in completed.items())
    assert stored_balance(database, "load-stop") == Decimal(5) - sum(rows.values(), Decimal(0))
