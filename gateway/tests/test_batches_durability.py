"""Batches survive a crash: kill -9 a real gateway process mid-batch, start it again, and every
``custom_id`` is answered exactly once and billed at most once; separate worker processes share
one batch without running any item twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from gwtest.batch_process import BatchGatewayProcess
from gwtest.batch_support import batch_catalog, chat_line, jsonl, ledger_rows, parse_jsonl, wait_batch, wait_for
from gwtest.harness import FakeUpstream
from gwtest.postgres_server import PostgresServer
from meshapi_gateway.config import Settings
from meshapi_gateway.store import db
from meshapi_gateway.store.batches_tables import BatchItem
from sqlalchemy import select


def items_of(database_url: str, batch_id: str) -> dict[str, dict[str, Any]]:
    async def run() -> dict[str, dict[str, Any]]:
        engine = db.make_engine(database_url)
        try:
            async with db.sessionmaker(engine)() as session:
                rows = (await session.execute(select(BatchItem).where(BatchItem.batch_id == batch_id))).scalars()
                return {
                    r.custom_id: {"status": r.status, "attempts": r.attempts, "claimed_by": r.claimed_by} for r in rows
                }
        finally:
            await engine.dispose()

    return asyncio.run(run())


def ledger_request_ids(database_url: str, batch_id: str) -> list[str] | None:
    rows = ledger_rows(database_url, batch_id + ":")
    return None if rows is None else [r["request_id"] for r in rows]


def upstream_calls(fake: FakeUpstream, batch_id: str) -> Counter[str]:
    ids = (r["headers"].get("x-request-id", "") for r in list(fake.recorder.requests))
    return Counter(i.split(":", 1)[1] for i in ids if i.startswith(batch_id + ":"))


def base_settings(fake: FakeUpstream, **extra: Any) -> dict[str, Any]:
    settings = {
        "models": batch_catalog(fake.url),
        "batch_poll_seconds": 0.2,
        "batch_lease_seconds": 2,
        "batch_concurrency_per_batch": 3,
        **extra,
    }
    if "ledger_flush_seconds" in Settings.model_fields:  # builds with the ledger: flush it promptly
        settings["ledger_flush_seconds"] = 0.1
    return settings


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_mid_batch_then_restart(
    backend: str, tmp_path: Path, fake_openai: FakeUpstream, request: pytest.FixtureRequest
) -> None:
    extra: dict[str, Any] = {}
    if backend == "postgresql":
        server: PostgresServer = request.getfixturevalue("pg_server")
        extra = {"database_url": server.new_database(), "file_storage": "database"}
    first = BatchGatewayProcess(tmp_path, base_settings(fake_openai, **extra))
    key = first.create_key("alice")
    first.start()
    lines = [chat_line(f"k{i:02d}", model="fake/slow-1") for i in range(12)]
    try:
        with httpx.Client(base_url=first.url, headers={"authorization": f"Bearer {key}"}, timeout=30) as c:
            r = c.post("/v1/files", files={"file": ("in.jsonl", jsonl(lines))}, data={"purpose": "batch"})
            fid = r.json()["id"]
            batch = c.post(
                "/v1/batches",
                json={"input_file_id": fid, "endpoint": "/v1/chat/completions", "completion_window": "24h"},
            ).json()
            wait_for(lambda: c.get(f"/v1/batches/{batch['id']}").json()["request_counts"]["completed"] >= 3, 60)
        first.kill()  # mid-batch: some items done, some running, some not started
    finally:
        first.stop()
    before = items_of(first.database_url, batch["id"])
    done_before = {cid for cid, item in before.items() if item["status"] == "succeeded"}
    assert 3 <= len(done_before) < 12, before

    second = BatchGatewayProcess(tmp_path, base_settings(fake_openai, **extra), port=first.port)
    second.start()
    try:
        with httpx.Client(base_url=second.url, headers={"authorization": f"Bearer {key}"}, timeout=30) as c:
            final = wait_batch(c, batch["id"], timeout=120)
            assert final["status"] == "completed", final
            assert final["request_counts"] == {"total": 12, "completed": 12, "failed": 0}
            out = parse_jsonl(c.get(f"/v1/files/{final['output_file_id']}/content").content)
    finally:
        second.stop()
    # Every custom_id exactly once in the output, each with its own answer.
    assert sorted(x["custom_id"] for x in out) == sorted(x["custom_id"] for x in lines)
    for line in out:
        assert line["response"]["body"]["choices"][0]["message"]["content"] == f"echo: say {line['custom_id']}"
    # Items committed before the crash never ran again; the others ran at most twice (once cut off by the kill).
    calls = upstream_calls(fake_openai, batch["id"])
    assert all(calls[cid] == 1 for cid in done_before), calls
    assert all(1 <= calls[x["custom_id"]] <= 2 for x in lines), calls
    after = items_of(first.database_url, batch["id"])
    assert all(after[cid]["attempts"] == 1 for cid in done_before)
    # Every item is billed exactly once: never twice, and a bill is never lost with the killed process
    # (it commits in the same transaction as the item's result).
    billed = ledger_request_ids(first.database_url, batch["id"])
    if billed is not None:
        assert Counter(billed) == Counter(f"{batch['id']}:{x['custom_id']}" for x in lines), Counter(billed)


def test_worker_processes_share_a_batch(tmp_path: Path, fake_openai: FakeUpstream, pg_server: PostgresServer) -> None:
    settings = base_settings(
        fake_openai, database_url=pg_server.new_database(), file_storage="database", batch_runner=False
    )
    api = BatchGatewayProcess(tmp_path, settings)
    key = api.create_key("alice")
    workers = [BatchGatewayProcess(tmp_path, {**settings, "batch_runner": True}, command="worker") for _ in range(2)]
    api.start()
    try:
        for w in workers:
            w.start()
        for w in workers:
            wait_for(lambda w=w: "started" in w.log.read_text(), 60)  # type: ignore[misc]
        lines = [chat_line(f"w{i:02d}", model="fake/slow-0.3") for i in range(24)]
        with httpx.Client(base_url=api.url, headers={"authorization": f"Bearer {key}"}, timeout=30) as c:
            batch = c.post("/v1/batches", json={"requests": lines}).json()
            final = wait_batch(c, batch["id"], timeout=120)
            assert final["status"] == "completed" and final["request_counts"]["completed"] == 24
            out = parse_jsonl(c.get(f"/v1/files/{final['output_file_id']}/content").content)
    finally:
        for w in workers:
            w.stop()
        api.stop()
    assert sorted(x["custom_id"] for x in out) == sorted(x["custom_id"] for x in lines)
    calls = upstream_calls(fake_openai, batch["id"])
    assert set(calls.values()) == {1} and len(calls) == 24  # no item ran twice
    items = items_of(settings["database_url"], batch["id"])
    # Each worker holds at most 3 items of the batch at a time, so both had to take part.
    assert len({item["claimed_by"] for item in items.values()}) == 2


def test_sigterm_hands_running_items_back(tmp_path: Path, fake_openai: FakeUpstream) -> None:
    settings = base_settings(fake_openai, batch_runner=False, batch_lease_seconds=60)
    api = BatchGatewayProcess(tmp_path, settings)
    key = api.create_key("alice")
    api.start()
    first = BatchGatewayProcess(tmp_path, {**settings, "batch_runner": True}, command="worker")
    second = BatchGatewayProcess(tmp_path, {**settings, "batch_runner": True}, command="worker")
    try:
        first.start()
        lines = [chat_line(f"t{i}", model="fake/slow-2") for i in range(6)]
        with httpx.Client(base_url=api.url, headers={"authorization": f"Bearer {key}"}, timeout=30) as c:
            batch = c.post("/v1/batches", json={"requests": lines}).json()
            wait_for(
                lambda: sum(i["status"] == "running" for i in items_of(api.database_url, batch["id"]).values()) == 3, 60
            )
            first.stop()  # SIGTERM: a graceful stop
            left = items_of(api.database_url, batch["id"])
            # Nothing stays claimed by the stopped worker: no one waits out its 60 s leases.
            assert not [cid for cid, i in left.items() if i["status"] == "running"], left
            second.start()
            final = wait_batch(c, batch["id"], timeout=120)
            assert final["status"] == "completed" and final["request_counts"]["completed"] == 6
            out = parse_jsonl(c.get(f"/v1/files/{final['output_file_id']}/content").content)
    finally:
        first.stop()
        second.stop()
        api.stop()
    assert sorted(x["custom_id"] for x in out) == sorted(x["custom_id"] for x in lines)


def test_cancel_after_a_worker_died_mid_batch(tmp_path: Path, fake_openai: FakeUpstream) -> None:
    settings = base_settings(fake_openai, batch_runner=False)
    api = BatchGatewayProcess(tmp_path, settings)
    key = api.create_key("alice")
    api.start()
    dead = BatchGatewayProcess(tmp_path, {**settings, "batch_runner": True}, command="worker")
    fresh = BatchGatewayProcess(tmp_path, {**settings, "batch_runner": True}, command="worker")
    try:
        dead.start()
        lines = [chat_line(f"d{i}", model="fake/slow-2") for i in range(6)]
        with httpx.Client(base_url=api.url, headers={"authorization": f"Bearer {key}"}, timeout=30) as c:
            batch = c.post("/v1/batches", json={"requests": lines}).json()
            wait_for(
                lambda: sum(i["status"] == "running" for i in items_of(api.database_url, batch["id"]).values()) == 3, 60
            )
            dead.kill()  # leaves three items claimed by a runner that will never come back
            assert c.post(f"/v1/batches/{batch['id']}/cancel", json={}).json()["status"] == "cancelling"
            fresh.start()
            final = wait_batch(c, batch["id"], timeout=120)
            assert final["status"] == "cancelled", final
            out, err = [], []
            if final["output_file_id"]:
                out = parse_jsonl(c.get(f"/v1/files/{final['output_file_id']}/content").content)
            err = parse_jsonl(c.get(f"/v1/files/{final['error_file_id']}/content").content)
    finally:
        dead.stop()
        fresh.stop()
        api.stop()
    assert sorted(x["custom_id"] for x in out + err) == sorted(x["custom_id"] for x in lines)
    assert {x["error"]["code"] for x in err} == {"batch_cancelled"}
