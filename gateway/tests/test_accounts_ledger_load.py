"""The ledger under load, against a gateway in its own process.

10,000 concurrent requests (streamed and not) leave exactly 10,000 ledger rows whose sum
is the balance change and the sum of the ``cost`` values the client saw. Stopping the
gateway mid-load (SIGTERM, as a process manager does) loses no completed request's row.

The load is driven by httpx's async client at bounded concurrency, as 32 clients of one
connection each: httpcore scans its whole pool (a socket poll per idle connection) for
every request, so one client with 32 connections spent 2.7-4.7 ms of CPU per request
here against 0.5 ms for 32 single-connection clients — the difference between the client
and the gateway being the slow part of the run. The upstream is the lean fake
(``gwtest.lean_upstream``) for the same reason.
"""

from __future__ import annotations

import asyncio
import json
import signal
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

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
    yield [
        {
            "id": MODEL,
            "upstream_model": "lean",
            "provider": "openai_compat",
            "base_url": server.url + "/v1",
            "api_key": "sk-fake",
            "prompt_usd_per_1m": "1.25",
            "completion_usd_per_1m": "3.1",
        }
    ]
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


class Clients:
    """``CONCURRENCY`` httpx async clients of one connection each; request ``i`` uses client ``i % n``."""

    def __init__(self, gp: GatewayProcess, key: str) -> None:
        self.pool = [
            httpx.AsyncClient(
                base_url=gp.url,
                headers={"authorization": f"Bearer {key}"},
                timeout=60,
                limits=httpx.Limits(max_connections=1),
            )
            for _ in range(CONCURRENCY)
        ]
        self.gate = asyncio.Semaphore(CONCURRENCY)

    async def post(self, i: int, body: dict[str, Any]) -> httpx.Response:
        async with self.gate:
            return await self.pool[i % CONCURRENCY].post("/v1/chat/completions", json=body)

    async def aclose(self) -> None:
        for client in self.pool:
            await client.aclose()


def test_ten_thousand_requests_balance_equals_ledger(tmp_path: Path, lean_models: list[dict[str, Any]]) -> None:
    gp = GatewayProcess(tmp_path, "", admin_token=ADMIN, models=lean_models).start()
    try:
        key = _setup(gp, "load-10k", "5")

        async def drive() -> list[Decimal]:
            clients = Clients(gp, key)

            async def one(i: int) -> Decimal:
                r = await clients.post(i, _body(i))
                assert r.status_code == 200, r.text
                return _cost(r.headers["content-type"], r.text)

            try:
                return list(await asyncio.gather(*(one(i) for i in range(10_000))))
            finally:
                await clients.aclose()

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
    gp = GatewayProcess(
        tmp_path, "", admin_token=ADMIN, models=lean_models, ledger_flush_seconds=120, ledger_batch_size=5000
    ).start()
    key = _setup(gp, "load-stop", "5")
    completed: dict[str, Decimal] = {}

    async def drive() -> None:
        clients = Clients(gp, key)
        stopped = asyncio.Event()

        async def one(i: int) -> None:
            if stopped.is_set() and i % 4:
                return  # after the stop, keep only a trickle of late requests
            try:
                r = await clients.post(i, _body(i))
            except httpx.HTTPError:
                return  # refused or cut by the stopping server: not completed
            if r.status_code == 200:
                completed[r.headers["x-request-id"]] = _cost(r.headers["content-type"], r.text)
            if len(completed) >= 1000 and not stopped.is_set():
                stopped.set()
                assert gp.proc is not None
                gp.proc.send_signal(signal.SIGTERM)

        try:
            await asyncio.gather(*(one(i) for i in range(4000)))
        finally:
            await clients.aclose()

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
