"""A gateway killed outright (SIGKILL) loses no bill its clients saw: the journal is replayed at the next start.

The ledger is written behind the requests; the journal (``billing/journal.py``) holds what is
not yet written. Here nothing is written before the kill (a two-minute flush interval), so
every row in the ledger afterwards came from the journal, and the ledger must equal, row for
row and to the cent, the costs the clients were shown.
"""

from __future__ import annotations

import asyncio
import signal
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from gwtest.accounts_support import ADMIN, ledger, stored_balance
from gwtest.gateway_process import GatewayProcess
from gwtest.lean_upstream import lean_app
from gwtest.server_thread import ServerThread
from test_accounts_ledger_load import _body, _cost, _setup

MODEL = "load/lean"
REQUESTS = 600


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


def _drive(gp: GatewayProcess, key: str, n: int) -> dict[str, Decimal]:
    async def run() -> dict[str, Decimal]:
        seen: dict[str, Decimal] = {}
        gate = asyncio.Semaphore(16)
        async with httpx.AsyncClient(base_url=gp.url, headers={"authorization": f"Bearer {key}"}, timeout=60) as client:

            async def one(i: int) -> None:
                async with gate:
                    r = await client.post("/v1/chat/completions", json={**_body(i), "model": MODEL})
                assert r.status_code == 200, r.text
                seen[r.headers["x-request-id"]] = _cost(r.headers["content-type"], r.text)

            await asyncio.gather(*(one(i) for i in range(n)))
        return seen

    return asyncio.run(run())


def test_a_killed_gateway_replays_its_journal_at_the_next_start(
    tmp_path: Path, lean_models: list[dict[str, Any]]
) -> None:
    settings: dict[str, Any] = {
        "admin_token": ADMIN,
        "models": lean_models,
        "ledger_flush_seconds": 120,
        "ledger_batch_size": 5000,
    }
    gp = GatewayProcess(tmp_path, "", **settings).start()
    key = _setup(gp, "journal", "5")
    seen = _drive(gp, key, REQUESTS)
    assert gp.proc is not None
    gp.proc.send_signal(signal.SIGKILL)
    gp.proc.wait(timeout=30)
    database = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    assert ledger(database, "journal") == []  # nothing was written behind before the kill

    again = GatewayProcess(tmp_path, "", port=gp.port, **settings).start()
    try:
        rows = {r.request_id: Decimal(r.cost_usd) for r in ledger(database, "journal")}
        assert rows == seen  # every bill a client saw, once, at the cost it was shown
        spent = sum(seen.values(), Decimal(0))
        assert stored_balance(database, "journal") == Decimal(5) - spent
        with httpx.Client(base_url=again.url, headers={"authorization": f"Bearer {key}"}) as c:
            assert Decimal(c.get("/v1/balance").json()["available_usd"]) == Decimal(5) - spent
        assert [p.name for p in (tmp_path / "ledger-journal").glob("*.jsonl") if p.stat().st_size] == []
    finally:
        again.stop()
    # A graceful stop with everything written leaves no journal behind.
    assert list((tmp_path / "ledger-journal").iterdir()) == []


def test_a_graceful_stop_then_a_start_bills_nothing_twice(tmp_path: Path, lean_models: list[dict[str, Any]]) -> None:
    settings: dict[str, Any] = {"admin_token": ADMIN, "models": lean_models}
    gp = GatewayProcess(tmp_path, "", **settings).start()
    key = _setup(gp, "journal-stop", "5")
    seen = _drive(gp, key, 200)
    gp.stop()
    again = GatewayProcess(tmp_path, "", port=gp.port, **settings).start()
    again.stop()
    database = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    rows = {r.request_id: Decimal(r.cost_usd) for r in ledger(database, "journal-stop")}
    assert rows == seen


def test_a_journal_line_round_trips_every_field() -> None:
    # ``encode`` spells its fields out; ``decode`` reads ``_FIELDS``: the two must stay the same list.
    from meshapi_gateway.attempt_claim import Claim
    from meshapi_gateway.billing.journal import _FIELDS, decode, encode
    from meshapi_gateway.billing.usage import UsageRecord

    record = UsageRecord("req_1", "alice", "key_1", "m/x", "openai_compat", 3, 5, 1, Decimal("0.25"), "chat", 12.5)
    claim = Claim("alice", "hash", "token")
    for with_claim in (None, claim):
        line = encode("led_1", record, Decimal("0.2500"), with_claim)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        entry = decode(line)
        assert (entry.row_id, entry.cost, entry.claim) == ("led_1", Decimal("0.2500"), with_claim)
        assert all(getattr(entry.record, name) == getattr(record, name) for name in _FIELDS)


def test_a_replayed_bill_keeps_its_team() -> None:
    # A killed process's bill, replayed, is the same ledger row the writer would have made: team included.
    import orjson

    from meshapi_gateway.billing.journal import decode, encode
    from meshapi_gateway.billing.usage import UsageRecord

    record = UsageRecord("req_1", "alice", "key_1", "m/x", "openai_compat", 3, 5, 1, Decimal("0.25"), team_id="team_1")
    line = encode("led_1", record, Decimal("0.2500"))
    assert decode(line).record.team_id == "team_1"
    older = _dict_line("led_1", record, Decimal("0.2500"))
    del older["team_id"]  # a line journaled before the team was written
    assert decode(orjson.dumps(older)).record.team_id is None


def _dict_line(row_id: str, record: Any, cost: Decimal, claim: Any = None) -> dict[str, Any]:
    """A journal line as versions before the array wrote it (a dict of the record's fields)."""
    from meshapi_gateway.billing.journal import _FIELDS

    data = {name: getattr(record, name) for name in _FIELDS}
    data.update(team_id=record.team_id, id=row_id, cost=str(cost))
    if claim is not None:
        data["claim"] = list(claim)
    return data


def test_a_dict_line_of_an_earlier_version_is_still_replayed() -> None:
    # A process killed before an upgrade leaves dict lines; the upgraded gateway bills them the same.
    import orjson

    from meshapi_gateway.attempt_claim import Claim
    from meshapi_gateway.billing.journal import _FIELDS, decode, encode
    from meshapi_gateway.billing.usage import UsageRecord

    record = UsageRecord("req_1", "alice", "key_1", "m/x", "openai_compat", 3, 5, 1, Decimal("0.25"), "chat", 12.5)
    record.team_id = "team_1"
    for claim in (None, Claim("alice", "hash", "token")):
        old = decode(orjson.dumps(_dict_line("led_1", record, Decimal("0.2500"), claim)))
        new = decode(encode("led_1", record, Decimal("0.2500"), claim))
        for entry in (old, new):
            assert (entry.row_id, entry.cost, entry.claim, entry.record.team_id) == (
                "led_1",
                Decimal("0.2500"),
                claim,
                "team_1",
            )
            assert all(getattr(entry.record, name) == getattr(record, name) for name in _FIELDS)


def test_a_line_of_the_wrong_length_is_unreadable() -> None:
    # ``read_segments`` skips what ``decode`` cannot read (ValueError, KeyError, TypeError).
    import orjson

    from meshapi_gateway.billing.journal import decode

    for values in (["req_1", "alice"], ["x"] * 16):
        with pytest.raises(ValueError):
            decode(orjson.dumps(values))
