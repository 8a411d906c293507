"""Batches end to end, on SQLite and PostgreSQL: the seed's example with our SDK, the openai client,
inline requests, failures, cancel, expiry, the active-batch limit and owner isolation."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any, Iterator

import httpx
import pytest
from gwtest.batch_support import batch_catalog, chat_line, jsonl, ledger_rows, parse_jsonl, wait_batch, wait_for
from gwtest.harness import FakeUpstream, Gateway, start_gateway
from gwtest.postgres_server import PostgresServer
from meshapi_gateway.store import db
from meshapi_gateway.store.batches_tables import Batch, BatchItem
from sqlalchemy import update


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bgw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeUpstream
) -> Iterator[Gateway]:
    overrides: dict[str, Any] = {
        "models": batch_catalog(fake_openai.url),
        "batch_poll_seconds": 0.2,
        "batch_lease_seconds": 5,
        "batch_allow_short_windows": True,
        "batch_concurrency_per_batch": 2,
        "batch_max_active_per_owner": 4,
        "batch_max_attempts": 2,
    }
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("pg_server")
        overrides["database_url"] = server.new_database()
        overrides["file_storage"] = "database"
    gw = start_gateway(tmp_path_factory.mktemp("batches"), fake_openai.url, **overrides)
    yield gw
    gw.server.stop()


@pytest.fixture(scope="module")
def alice(bgw: Gateway) -> str:
    return bgw.create_key("alice")


def upload(c: httpx.Client, lines: list[dict[str, Any]]) -> str:
    r = c.post("/v1/files", files={"file": ("in.jsonl", jsonl(lines))}, data={"purpose": "batch"})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def create(c: httpx.Client, file_id: str, **extra: object) -> dict[str, Any]:
    r = c.post(
        "/v1/batches",
        json={"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h", **extra},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def outputs(c: httpx.Client, batch: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    out = parse_jsonl(c.get(f"/v1/files/{batch['output_file_id']}/content").content) if batch["output_file_id"] else []
    err = parse_jsonl(c.get(f"/v1/files/{batch['error_file_id']}/content").content) if batch["error_file_id"] else []
    return out, err


def test_seed_readme_example_with_our_sdk(bgw: Gateway, alice: str, fake_openai: FakeUpstream) -> None:
    from meshapi import BatchRequestItem, CreateBatchParams, MeshAPI, UploadBatchFileParams

    client = MeshAPI(base_url=bgw.url, token=alice)

    # 1. Upload the batch input
    file = client.files.upload(
        UploadBatchFileParams(
            purpose="batch",
            requests=[
                BatchRequestItem(
                    custom_id="req-1",
                    body={
                        "model": "openai/gpt-4o-mini",
                        "messages": [{"role": "user", "content": "Say hi."}],
                    },
                ),
                BatchRequestItem(
                    custom_id="req-2",
                    body={
                        "model": "openai/gpt-4o-mini",
                        "messages": [{"role": "user", "content": "Say bye."}],
                    },
                ),
            ],
        )
    )

    # 2. Create the batch
    batch = client.batches.create(
        CreateBatchParams(
            input_file_id=file.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
        )
    )
    assert batch.status == "validating" and batch.request_counts == {"total": 2, "completed": 0, "failed": 0}

    # 3. Poll later
    with bgw.client(alice) as c:
        wait_batch(c, batch.id)
    status = client.batches.get(batch.id)
    assert status.status == "completed" and status.output_file_id
    output_bytes = client.files.content(status.output_file_id)
    by_id = {line["custom_id"]: line for line in parse_jsonl(output_bytes)}
    assert set(by_id) == {"req-1", "req-2"}
    assert by_id["req-1"]["response"]["status_code"] == 200
    assert by_id["req-1"]["response"]["body"]["choices"][0]["message"]["content"] == "echo: Say hi."
    assert by_id["req-2"]["response"]["body"]["choices"][0]["message"]["content"] == "echo: Say bye."
    assert by_id["req-1"]["error"] is None
    assert status.request_counts == {"total": 2, "completed": 2, "failed": 0}
    assert status.error_file_id is None and status.completed_at
    # Each request reached the upstream under its own deterministic request id.
    ids = {r["headers"].get("x-request-id") for r in fake_openai.recorder.requests}
    assert {f"{batch.id}:req-1", f"{batch.id}:req-2"} <= ids
    assert batch.id in [b.id for b in client.batches.list().data]
    metrics = httpx.get(bgw.url + "/metrics").text
    assert 'meshapi_batch_items_total{outcome="succeeded"}' in metrics
    assert 'meshapi_batches_finished_total{status="completed"}' in metrics


def test_openai_client_multipart_flow_and_batch_discount(bgw: Gateway, alice: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=bgw.url + "/v1", api_key=alice, max_retries=0)
    lines = [chat_line(f"o-{i}", f"number {i}") for i in range(6)]
    f = client.files.create(file=("input.jsonl", jsonl(lines)), purpose="batch")
    batch = client.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h", metadata={"job": "nightly"}
    )
    assert batch.metadata == {"job": "nightly"} and batch.request_counts and batch.request_counts.total == 6
    with bgw.client(alice) as c:
        wait_batch(c, batch.id)
    done = client.batches.retrieve(batch.id)
    assert done.status == "completed" and done.request_counts and done.request_counts.completed == 6
    assert done.output_file_id
    assert done.in_progress_at and done.finalizing_at and done.completed_at
    assert done.usage is not None and done.usage.total_tokens > 0
    out = parse_jsonl(client.files.content(done.output_file_id).content)
    assert sorted(x["custom_id"] for x in out) == sorted(x["custom_id"] for x in lines)
    # Billed at the batch discount: half of what the same request costs live.
    with bgw.client(alice) as c:
        live = c.post("/v1/chat/completions", json=lines[0]["body"]).json()
    item = next(x for x in out if x["custom_id"] == "o-0")
    assert Decimal(item["response"]["body"]["cost"]) * 2 == Decimal(live["cost"])
    assert Decimal(live["cost"]) > 0
    # The ledger (where this build has one) shows each item once, as a batch, at the discounted cost.
    database_url = bgw.settings.resolved_database_url()
    if ledger_rows(database_url, batch.id) is not None:
        rows = wait_for(lambda: (r := ledger_rows(database_url, batch.id + ":")) and len(r) == 6 and r, 30)
        assert sorted(r["request_id"] for r in rows) == sorted(f"{batch.id}:{x['custom_id']}" for x in lines)
        assert {r["kind"] for r in rows} == {"batch"}
        by_id = {r["request_id"]: Decimal(str(r["cost_usd"])) for r in rows}
        assert by_id[f"{batch.id}:o-0"] * 2 == Decimal(live["cost"])


def test_inline_requests_and_embeddings(bgw: Gateway, alice: str) -> None:
    with bgw.client(alice) as c:
        r = c.post("/v1/batches", json={"requests": [chat_line("in-1"), chat_line("in-2")], "metadata": {"a": "b"}})
        assert r.status_code == 200, r.text
        inline = r.json()
        assert inline["input_file_id"].startswith("file-")
        emb = [
            {
                "custom_id": f"e{i}",
                "method": "POST",
                "url": "/v1/embeddings",
                "body": {"model": "fake/embed", "input": f"text {i}"},
            }
            for i in range(3)
        ]
        inline_emb = c.post("/v1/batches", json={"requests": emb}).json()
        assert inline_emb["endpoint"] == "/v1/embeddings"
        fid = upload(c, emb)
        e = c.post(
            "/v1/batches", json={"input_file_id": fid, "endpoint": "/v1/embeddings", "completion_window": "24h"}
        ).json()
        done = wait_batch(c, inline["id"])
        assert done["status"] == "completed" and done["request_counts"]["completed"] == 2
        assert wait_batch(c, inline_emb["id"])["status"] == "completed"
        done_e = wait_batch(c, e["id"])
        assert done_e["status"] == "completed", done_e
        out, _ = outputs(c, done_e)
        assert sorted(x["custom_id"] for x in out) == ["e0", "e1", "e2"]
        assert all(x["response"]["body"]["data"][0]["object"] == "embedding" for x in out)


def test_failed_requests_go_to_the_error_file(bgw: Gateway, alice: str) -> None:
    lines = [chat_line("good"), chat_line("bad", model="fake/fail-400")]
    with bgw.client(alice) as c:
        batch = create(c, upload(c, lines))
        done = wait_batch(c, batch["id"])
        assert done["status"] == "completed"
        assert done["request_counts"] == {"total": 2, "completed": 1, "failed": 1}
        out, err = outputs(c, done)
        assert [x["custom_id"] for x in out] == ["good"] and [x["custom_id"] for x in err] == ["bad"]
        assert 400 <= err[0]["response"]["status_code"] < 500 and err[0]["error"]["code"]


def test_retryable_failures_are_tried_again_then_reported(bgw: Gateway, alice: str, fake_openai: FakeUpstream) -> None:
    with bgw.client(alice) as c:
        batch = create(c, upload(c, [chat_line("flaky", model="fake/fail-503"), chat_line("fine")]))
        done = wait_batch(c, batch["id"])
        assert done["status"] == "completed"
        assert done["request_counts"] == {"total": 2, "completed": 1, "failed": 1}
        _, err = outputs(c, done)
        assert err[0]["custom_id"] == "flaky" and err[0]["response"]["status_code"] >= 500
    sent = [r for r in fake_openai.recorder.requests if r["headers"].get("x-request-id") == f"{batch['id']}:flaky"]
    assert len(sent) >= 2  # batch_max_attempts = 2, each after the router's own retries and fallbacks


def test_create_errors(bgw: Gateway, alice: str) -> None:
    with bgw.client(alice) as c:
        r = c.post(
            "/v1/batches",
            json={"input_file_id": "file-nope", "endpoint": "/v1/chat/completions", "completion_window": "24h"},
        )
        assert r.status_code == 404 and r.json()["error"]["code"] == "file_not_found"
        fid = upload(c, [chat_line("x")])
        r = c.post("/v1/batches", json={"input_file_id": fid, "endpoint": "/v1/images", "completion_window": "24h"})
        assert r.status_code == 422
        r = c.post("/v1/batches", json={"input_file_id": fid, "endpoint": "/v1/embeddings", "completion_window": "24h"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_batch_file"
        assert r.json()["error"]["details"][0]["line"] == 1
        r = c.post("/v1/batches", json={"input_file_id": fid, "completion_window": "7d"})
        assert r.status_code == 422
        assert c.get("/v1/batches/batch_nope").status_code == 404


def test_cancel_keeps_finished_items(bgw: Gateway, alice: str) -> None:
    lines = [chat_line(f"c{i}", model="fake/slow-1") for i in range(8)]
    with bgw.client(alice) as c:
        batch = create(c, upload(c, lines))
        wait_batch(c, batch["id"], ("in_progress",))
        wait_for(lambda: c.get(f"/v1/batches/{batch['id']}").json()["request_counts"]["completed"] >= 1, 30)
        r = c.post(f"/v1/batches/{batch['id']}/cancel", json={})
        assert r.status_code == 200 and r.json()["status"] in ("cancelling", "cancelled")
        done = wait_batch(c, batch["id"])
        assert done["status"] == "cancelled" and done["cancelled_at"]
        out, err = outputs(c, done)
        finished = [x["custom_id"] for x in out]
        assert 1 <= len(finished) < 8
        assert sorted(finished + [x["custom_id"] for x in err]) == sorted(x["custom_id"] for x in lines)
        assert {x["error"]["code"] for x in err} == {"batch_cancelled"}
        assert c.post(f"/v1/batches/{batch['id']}/cancel", json={}).json()["status"] == "cancelled"


def test_expiry_keeps_partial_output(bgw: Gateway, alice: str) -> None:
    lines = [chat_line(f"x{i}", model="fake/slow-1") for i in range(10)]
    with bgw.client(alice) as c:
        batch = create(c, upload(c, lines), completion_window="2s")
        done = wait_batch(c, batch["id"])
        assert done["status"] == "expired" and done["expired_at"]
        out, err = outputs(c, done)
        assert len(out) < 10
        assert sorted([x["custom_id"] for x in out] + [x["custom_id"] for x in err]) == sorted(
            x["custom_id"] for x in lines
        )
        assert {x["error"]["code"] for x in err} == {"batch_expired"}


def test_active_batch_limit(bgw: Gateway) -> None:
    carol = bgw.create_key("carol")
    lines = [chat_line(f"l{i}", model="fake/slow-2") for i in range(4)]
    with bgw.client(carol) as c:
        fid = upload(c, lines)
        ids = [create(c, fid)["id"] for _ in range(bgw.settings.batch_max_active_per_owner)]
        r = c.post(
            "/v1/batches", json={"input_file_id": fid, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        )
        assert r.status_code == 429 and r.json()["error"]["code"] == "batch_limit_exceeded"
        for batch_id in ids:
            c.post(f"/v1/batches/{batch_id}/cancel", json={})
        for batch_id in ids:
            wait_batch(c, batch_id)
        assert c.post("/v1/batches", json={"requests": [chat_line("after")]}).status_code == 200


def test_owner_isolation_and_pagination(bgw: Gateway, alice: str) -> None:
    bob = bgw.create_key("bob")
    with bgw.client(alice) as a, bgw.client(bob) as b:
        fid = upload(a, [chat_line("iso")])
        batch = create(a, fid)
        assert b.get(f"/v1/batches/{batch['id']}").status_code == 404
        assert b.post(f"/v1/batches/{batch['id']}/cancel", json={}).status_code == 404
        r = b.post(
            "/v1/batches", json={"input_file_id": fid, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        )
        assert r.status_code == 404 and r.json()["error"]["code"] == "file_not_found"
        assert b.get(f"/v1/files/{fid}/content").status_code == 404
        assert all(x["id"] != batch["id"] for x in b.get("/v1/batches").json()["data"])
        done = wait_batch(a, batch["id"])
        assert b.get(f"/v1/files/{done['output_file_id']}/content").status_code == 404
        page = a.get("/v1/batches", params={"limit": "2"}).json()
        assert page["object"] == "list" and len(page["data"]) == 2 and page["has_more"] is True
        assert page["data"][0]["id"] == batch["id"] and page["first_id"] == batch["id"]
        nxt = a.get("/v1/batches", params={"limit": "2", "after": page["last_id"]}).json()
        assert nxt["data"][0]["id"] < page["last_id"]
        assert json.dumps(nxt)  # plain JSON


def test_item_run_again_after_its_bill_is_not_billed_again(bgw: Gateway, alice: str, fake_openai: FakeUpstream) -> None:
    """The crash window between an item's bill and its commit, made to happen on purpose."""
    database_url = bgw.settings.resolved_database_url()
    if ledger_rows(database_url, "none") is None:
        pytest.skip("this build has no ledger")
    with bgw.client(alice) as c:
        batch = create(c, upload(c, [chat_line("once"), chat_line("other")]))
        wait_batch(c, batch["id"])
        wait_for(lambda: len(ledger_rows(database_url, batch["id"] + ":") or []) == 2, 30)
        # As if the process had died after billing "once" but before committing its result.
        reopen_item(database_url, batch["id"], "once")
        done = wait_batch(c, batch["id"])
        assert done["status"] == "completed" and done["request_counts"]["completed"] == 2
        out, _ = outputs(c, done)
        assert sorted(x["custom_id"] for x in out) == ["once", "other"]
        # The ledger writes in order: once a later request's row is there, every earlier bill is too.
        barrier = f"barrier-{batch['id']}"
        c.post("/v1/chat/completions", json=chat_line("b")["body"], headers={"x-request-id": barrier})
        wait_for(lambda: ledger_rows(database_url, barrier), 30)
    sent = [r for r in fake_openai.recorder.requests if r["headers"].get("x-request-id") == f"{batch['id']}:once"]
    assert len(sent) == 2  # answered again ...
    rows = ledger_rows(database_url, batch["id"] + ":") or []
    assert sorted(r["request_id"] for r in rows) == [f"{batch['id']}:once", f"{batch['id']}:other"]  # ... billed once


def reopen_item(database_url: str, batch_id: str, custom_id: str) -> None:
    async def run() -> None:
        engine = db.make_engine(database_url)
        try:
            async with db.sessionmaker(engine)() as session, session.begin():
                await session.execute(
                    update(BatchItem)
                    .where(BatchItem.batch_id == batch_id, BatchItem.custom_id == custom_id)
                    .values(status="pending", result_json=None, lease_until=None)
                )
                await session.execute(
                    update(Batch)
                    .where(Batch.id == batch_id)
                    .values(status="in_progress", completed_at=None, output_file_id=None)
                )
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_a_big_batch_leaves_room_for_live_traffic_and_other_owners(
    gateway_factory: Any, fake_openai: FakeUpstream
) -> None:
    gw: Gateway = gateway_factory(
        models=batch_catalog(fake_openai.url),
        batch_poll_seconds=0.2,
        batch_concurrency_per_batch=2,
        batch_concurrency_per_owner=2,
        batch_concurrency_total=4,
    )
    big_owner, small_owner = gw.create_key("big"), gw.create_key("small")
    with gw.client(big_owner) as big, gw.client(small_owner) as small:
        huge = create(big, upload(big, [chat_line(f"h{i}", model="fake/slow-2") for i in range(20)]))
        more = create(big, upload(big, [chat_line(f"m{i}", model="fake/slow-2") for i in range(20)]))
        wait_batch(big, huge["id"], ("in_progress",))
        # Live requests of the same owner are answered while the batches run.
        live = big.post("/v1/chat/completions", json=chat_line("live")["body"])
        assert live.status_code == 200
        # Another owner's batch finishes while the big owner's batches are still far from done.
        quick = create(small, upload(small, [chat_line("q1"), chat_line("q2")]))
        assert wait_batch(small, quick["id"])["status"] == "completed"
        states = [big.get(f"/v1/batches/{b['id']}").json() for b in (huge, more)]
        assert all(s["status"] == "in_progress" for s in states)
        assert sum(s["request_counts"]["completed"] for s in states) < 40
        for b in (huge, more):
            big.post(f"/v1/batches/{b['id']}/cancel", json={})
        for b in (huge, more):
            wait_batch(big, b["id"])
