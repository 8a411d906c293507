"""The request log: one record per data-plane request, written behind, read through ``/v1/logs``.

Real gateways over HTTP on SQLite and PostgreSQL, the fake OpenAI upstream, keys made
through the API; records are read back through the API (and, for the purge, the table).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
import uuid
from decimal import Decimal
from typing import Any, Callable

import httpx
import pytest
from gwtest.accounts_support import ADMIN
from gwtest.batch_support import batch_catalog, chat_line, jsonl, wait_batch
from gwtest.harness import Gateway
from gwtest.server_thread import ServerThread
from gwtest.tavily_upstream import KEY as TAVILY_KEY
from gwtest.tavily_upstream import make_tavily_app

HI = [{"role": "user", "content": "hello there"}]


def _key(gw: Gateway, owner: str) -> tuple[str, str]:
    r = httpx.post(gw.url + "/v1/keys", headers={"authorization": f"Bearer {ADMIN}"}, json={"owner": owner})
    assert r.status_code == 201, r.text
    return str(r.json()["key"]), str(r.json()["id"])


def _rid() -> str:
    return "t-" + uuid.uuid4().hex


def _chat(gw: Gateway, key: str, rid: str, **body: Any) -> httpx.Response:
    payload = {"model": "fake/echo", "messages": HI, **body}
    headers = {"authorization": f"Bearer {key}", "x-request-id": rid, "user-agent": "log-test/2"}
    if payload.get("stream"):
        with httpx.stream("POST", gw.url + "/v1/chat/completions", json=payload, headers=headers, timeout=30) as r:
            r.read()
            return r
    return httpx.post(gw.url + "/v1/chat/completions", json=payload, headers=headers, timeout=30)


def _get(gw: Gateway, auth: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(gw.url + path, params=params, headers={"authorization": f"Bearer {auth}"}, timeout=30)


def test_every_data_plane_request_leaves_one_record(gateway_factory: Callable[..., Gateway], database_url: str) -> None:
    gw = gateway_factory(database_url=database_url, admin_token=ADMIN)
    alice, alice_id = _key(gw, "log-alice")
    bob, _ = _key(gw, "log-bob")
    ok, streamed, fallback, missing, refused, embedded = (_rid() for _ in range(6))
    assert _chat(gw, alice, ok).status_code == 200
    assert _chat(gw, alice, streamed, stream=True).status_code == 200
    assert _chat(gw, alice, fallback, model="fake/flaky").status_code == 200
    assert _chat(gw, alice, missing, model="nope/missing").status_code == 404
    assert _chat(gw, alice, refused, model="fake/fail-400").status_code == 422
    r = httpx.post(
        gw.url + "/v1/embeddings",
        json={"model": "fake/embed", "input": "hi"},
        headers={"authorization": f"Bearer {alice}", "x-request-id": embedded},
    )
    assert r.status_code == 200
    assert _chat(gw, bob, _rid()).status_code == 200

    mine = _get(gw, alice, "/v1/logs").json()
    assert {row["owner"] for row in mine["data"]} == {"log-alice"} and len(mine["data"]) == 6
    by_id = {row["request_id"]: row for row in mine["data"]}
    assert set(by_id) == {ok, streamed, fallback, missing, refused, embedded}

    first = by_id[ok]
    assert first["endpoint"] == "/v1/chat/completions" and first["status"] == 200 and first["model"] == "fake/echo"
    assert first["key_id"] == alice_id and first["requested_model"] == "fake/echo"
    assert first["deployment"] == "fake/echo#0" and first["streamed"] is False
    assert first["usage"]["prompt_tokens"] > 0 and first["usage"]["completion_tokens"] > 0
    assert first["cost"] is not None and float(first["cost"]) > 0 and first["duration_ms"] > 0
    assert first["user_agent"] == "log-test/2" and first["client_address"] == "127.0.0.1"
    assert first["idempotent_replay"] is False and first["cache_status"] is None
    assert by_id[streamed]["streamed"] is True and by_id[streamed]["time_to_first_token_ms"] is not None
    # A stream that ended well is no error (the frame kept for a shutdown's cut is not the answer).
    assert by_id[streamed]["status"] == 200 and by_id[streamed]["error_code"] is None
    assert by_id[missing]["status"] == 404 and by_id[missing]["error_code"] == "model_not_found"
    assert by_id[missing]["requested_model"] == "nope/missing" and by_id[missing]["model"] is None
    assert by_id[refused]["status"] == 422 and by_id[refused]["model"] is None
    assert by_id[embedded]["endpoint"] == "/v1/embeddings" and by_id[embedded]["status"] == 200

    detail = _get(gw, alice, f"/v1/logs/{fallback}").json()
    assert detail["model"] == "fake/echo" and detail["requested_model"] == "fake/flaky"
    outcomes = [(a["model"], a["outcome"]) for a in detail["attempts"]]
    assert outcomes[0][0] == "fake/flaky" and outcomes[0][1] != "ok" and outcomes[-1] == ("fake/echo", "ok")
    assert all(a["duration_ms"] >= 0 and a["deployment"] for a in detail["attempts"])
    assert detail["request_body"] is None and detail["response_body"] is None  # bodies are off by default

    # Bob sees none of Alice's records; the admin sees everyone's and may narrow to one owner.
    assert _get(gw, bob, f"/v1/logs/{ok}").status_code == 404
    assert {row["owner"] for row in _get(gw, bob, "/v1/logs").json()["data"]} == {"log-bob"}
    everyone = _get(gw, ADMIN, "/v1/logs").json()["data"]
    assert {row["owner"] for row in everyone} == {"log-alice", "log-bob"}
    assert {row["owner"] for row in _get(gw, ADMIN, "/v1/logs", owner="log-bob").json()["data"]} == {"log-bob"}

    # Filters.
    def ids(**params: Any) -> set[str]:
        return {row["request_id"] for row in _get(gw, alice, "/v1/logs", **params).json()["data"]}

    assert ids(status=404) == {missing}
    assert ids(error_code="validation_error") == {refused}
    assert ids(model="fake/flaky") == {fallback}
    assert ids(key_id=alice_id) == set(by_id)
    assert ids(key_id="key_none") == set()
    slowest = max(row["duration_ms"] for row in mine["data"])
    assert ids(min_duration_ms=slowest) == {r for r, row in by_id.items() if row["duration_ms"] >= slowest}
    assert ids(since=int(time.time()) + 60) == set()
    assert ids(until=int(time.time()) - 3600) == set()

    # Cursor pagination: every record once, newest first.
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = _get(gw, alice, "/v1/logs", **params).json()
        seen += [row["request_id"] for row in page["data"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == [row["request_id"] for row in mine["data"]]
    bad = _get(gw, alice, "/v1/logs", cursor="not-a-cursor")
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["loc"] == ["body", "cursor"]


def test_bodies_are_redacted_capped_and_streams_reassembled(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory(
        admin_token=ADMIN, request_log={"bodies": True, "body_max_bytes": 2048, "redact": [r"ACCT-\d{6}"]}
    )
    key, _ = _key(gw, "log-bodies")
    secret_text = f"mail jane.doe@example.org, key {key}, vendor sk-{'a' * 30}, account ACCT-123456"
    plain, streamed, long = _rid(), _rid(), _rid()
    assert _chat(gw, key, plain, messages=[{"role": "user", "content": secret_text}]).status_code == 200
    r = _chat(gw, key, streamed, stream=True, messages=[{"role": "user", "content": "say several words now"}])
    text = "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        for line in r.text.splitlines()
        if line.startswith("data: {") and json.loads(line[6:]).get("choices")
    )
    assert text
    assert _chat(gw, key, long, messages=[{"role": "user", "content": "x" * 10_000}]).status_code == 200

    detail = _get(gw, key, f"/v1/logs/{plain}").json()
    stored = detail["request_body"] + detail["response_body"]
    for secret in ("jane.doe@example.org", key, "sk-" + "a" * 30, "ACCT-123456"):
        assert secret not in stored
    assert "[REDACTED_EMAIL]" in detail["request_body"] and "[REDACTED_KEY]" in detail["request_body"]
    assert "[REDACTED]" in detail["request_body"]
    assert json.loads(detail["response_body"])["choices"][0]["message"]["role"] == "assistant"

    answer = json.loads(_get(gw, key, f"/v1/logs/{streamed}").json()["response_body"])
    assert answer["object"] == "chat.completion" and answer["choices"][0]["message"]["content"] == text

    capped = _get(gw, key, f"/v1/logs/{long}").json()["request_body"]
    assert len(capped.encode()) < 2048 + 100 and "truncated" in capped


def test_bodies_for_listed_keys_only(gateway_factory: Callable[..., Gateway], tmp_path: Any) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    first = gateway_factory(database_url=database_url, admin_token=ADMIN)
    chosen, chosen_id = _key(first, "log-chosen")
    other, _ = _key(first, "log-other")
    gw = gateway_factory(database_url=database_url, admin_token=ADMIN, request_log={"bodies_keys": [chosen_id]})
    one, two = _rid(), _rid()
    deadline = time.monotonic() + 10
    while _chat(gw, chosen, one).status_code == 401 and time.monotonic() < deadline:  # the key cache refreshes
        time.sleep(0.2)
    assert _chat(gw, other, two).status_code == 200
    assert "hello there" in _get(gw, chosen, f"/v1/logs/{one}").json()["request_body"]
    assert _get(gw, other, f"/v1/logs/{two}").json()["request_body"] is None


def test_old_records_are_purged_in_the_background(gateway_factory: Callable[..., Gateway]) -> None:
    from meshapi_gateway.store import db
    from meshapi_gateway.store.request_log_tables import RequestLog
    from sqlalchemy import func, insert, select

    gw = gateway_factory(admin_token=ADMIN, request_log={"retention_days": 1, "purge_every_seconds": 0.3})
    key, _ = _key(gw, "log-purge")
    fresh = _rid()
    assert _chat(gw, key, fresh).status_code == 200
    old_ms = int((time.time() - 2 * 86400) * 1000)

    async def run(fn: Any) -> Any:
        engine = db.make_engine(gw.settings.resolved_database_url())
        try:
            async with db.sessionmaker(engine)() as session, session.begin():
                return await fn(session)
        finally:
            await engine.dispose()

    async def add_old(session: Any) -> None:
        await session.execute(
            insert(RequestLog),
            [
                {
                    "id": "log_old",
                    "request_id": "old",
                    "created_ms": old_ms,
                    "owner": "log-purge",
                    "endpoint": "x",
                    "attempts": "[]",
                    "status": 200,
                    "streamed": False,
                    "duration_ms": 1.0,
                    "prompt_tokens": 0,
                    "completion_tokens": 0,
                    "cached_tokens": 0,
                    "idempotent_replay": False,
                }
            ],
        )

    async def count_old(session: Any) -> int:
        return int((await session.execute(select(func.count()).where(RequestLog.id == "log_old"))).scalar_one())

    asyncio.run(run(add_old))
    deadline = time.monotonic() + 15
    while asyncio.run(run(count_old)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert asyncio.run(run(count_old)) == 0
    assert [row["request_id"] for row in _get(gw, key, "/v1/logs").json()["data"]] == [fresh]


@pytest.mark.parametrize(
    "params", [{"status": "abc"}, {"min_duration_ms": "-1"}, {"since": "yesterday"}, {"limit": "0"}]
)
def test_bad_filters_name_the_parameter(gateway_factory: Callable[..., Gateway], params: dict[str, str]) -> None:
    gw = gateway_factory(admin_token=ADMIN)
    r = _get(gw, ADMIN, "/v1/logs", **params)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"][-1] == next(iter(params))


def test_turned_off_leaves_no_record_and_answers_404(gateway_factory: Callable[..., Gateway]) -> None:
    gw = gateway_factory(admin_token=ADMIN, request_log={"enabled": False})
    key, _ = _key(gw, "log-off")
    assert _chat(gw, key, _rid()).status_code == 200
    r = _get(gw, key, "/v1/logs")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_sdk_logs_resource_sync_and_async(gateway_factory: Callable[..., Gateway]) -> None:
    from decimal import Decimal

    from meshapi import AsyncMeshAPI, MeshAPI, NotFoundError

    gw = gateway_factory(admin_token=ADMIN)
    key, key_id = _key(gw, "log-sdk")
    rids = [_rid() for _ in range(5)]
    for rid in rids[:4]:
        assert _chat(gw, key, rid).status_code == 200
    assert _chat(gw, key, rids[4], model="fake/flaky").status_code == 200

    with MeshAPI(base_url=gw.url, token=key) as client:
        page = client.logs.list(limit=2)
        assert len(page.data) == 2 and page.has_more and page.next_cursor
        assert [r.request_id for r in client.logs.iter_all(limit=2)] == list(reversed(rids))
        assert [r.request_id for r in client.logs.list(model="fake/flaky").data] == [rids[4]]
        assert client.logs.list(key_id=key_id, status=500).data == []
        record = client.logs.get(rids[4])
        assert record.model == "fake/echo" and record.attempts is not None and len(record.attempts) >= 2
        assert record.attempts[-1].outcome == "ok" and record.usage.prompt_tokens > 0
        assert record.cost is not None and Decimal(record.cost) > 0
        try:
            client.logs.get("no-such-request")
        except NotFoundError:
            pass
        else:
            raise AssertionError("an unknown request id must be a 404")

    async def run() -> list[str]:
        async with AsyncMeshAPI(base_url=gw.url, token=ADMIN) as admin:
            got = await admin.logs.get(rids[0])
            assert got.owner == "log-sdk"
            return [r.request_id async for r in admin.logs.iter_all(owner="log-sdk", limit=3)]

    assert asyncio.run(run()) == list(reversed(rids))


def test_a_record_of_several_calls_or_attempts_adds_up_its_bills(gateway_factory: Callable[..., Gateway]) -> None:
    """A compare (three calls) and a fallback (one call, two attempts): the record's tokens and cost are its
    calls' bills added up, its attempts every call's, and its model the last call's (the judge's)."""
    gw = gateway_factory(admin_token=ADMIN, compare_judge_model="fake/echo")
    key, _ = _key(gw, "log-sums")
    headers = {"authorization": f"Bearer {key}"}
    compared = _rid()
    r = httpx.post(
        gw.url + "/v1/chat/compare",
        json={"models": ["fake/echo", "fake/free-echo"], "messages": HI},
        headers={**headers, "x-request-id": compared},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    fallback = _rid()
    answer = _chat(gw, key, fallback, model="fake/flaky")
    assert answer.status_code == 200

    def bills(request_id: str) -> list[dict[str, Any]]:
        got = httpx.get(gw.url + "/v1/usage", params={"request_id": request_id}, headers=headers, timeout=30)
        assert got.status_code == 200, got.text
        rows: list[dict[str, Any]] = got.json()["data"]
        return rows

    calls = [row for part in ("fake/echo", "fake/free-echo", "judge") for row in bills(f"{compared}::{part}")]
    assert len(calls) == 3
    detail = _get(gw, key, f"/v1/logs/{compared}").json()
    assert detail["endpoint"] == "/v1/chat/compare" and detail["status"] == 200 and detail["model"] == "fake/echo"
    assert detail["usage"] == {
        "prompt_tokens": sum(c["prompt_tokens"] for c in calls),
        "completion_tokens": sum(c["completion_tokens"] for c in calls),
        "cached_tokens": sum(c["cached_tokens"] for c in calls),
    }
    assert Decimal(detail["cost"]) == sum((Decimal(c["cost_usd"]) for c in calls), Decimal(0))
    assert len(detail["attempts"]) == 3 and all(a["outcome"] == "ok" for a in detail["attempts"])

    (bill,) = bills(fallback)
    detail = _get(gw, key, f"/v1/logs/{fallback}").json()
    assert detail["attempt_count"] == len(detail["attempts"]) >= 2
    assert detail["usage"]["prompt_tokens"] == bill["prompt_tokens"] == answer.json()["usage"]["prompt_tokens"]
    assert detail["usage"]["completion_tokens"] == bill["completion_tokens"]
    assert Decimal(detail["cost"]) == Decimal(bill["cost_usd"]) > 0


def test_web_search_names_its_provider_and_attempt(gateway_factory: Callable[..., Gateway]) -> None:
    server = ServerThread(make_tavily_app([])).start()
    try:
        gw = gateway_factory(
            admin_token=ADMIN,
            local_embeddings=False,
            web_search={"provider": "tavily", "base_url": server.url, "api_key": TAVILY_KEY},
        )
        made = httpx.post(
            gw.url + "/v1/keys", headers={"authorization": f"Bearer {ADMIN}"}, json={"owner": "log-search", "rpm": 100}
        ).json()
        key, key_id = made["key"], made["id"]
        rid = _rid()
        r = httpx.post(
            gw.url + "/v1/web/search",
            json={"query": "python"},
            headers={"authorization": f"Bearer {key}", "x-request-id": rid},
        )
        assert r.status_code == 200 and r.headers["x-ratelimit-limit"] == "100"  # counted like any other call
        record = _get(gw, key, f"/v1/logs/{rid}").json()
    finally:
        server.stop()
    assert record["endpoint"] == "/v1/web/search" and record["status"] == 200 and record["key_id"] == key_id
    assert record["requested_model"] == "tavily" and record["model"] == "tavily"
    assert record["deployment"] == "tavily#0" and record["attempt_count"] == 1
    assert [(a["model"], a["outcome"]) for a in record["attempts"]] == [("tavily", "ok")]


def test_every_batch_item_leaves_a_record(gateway_factory: Callable[..., Gateway], fake_openai: Any) -> None:
    gw = gateway_factory(
        admin_token=ADMIN, models=batch_catalog(fake_openai.url), batch_poll_seconds=0.2, batch_max_attempts=1
    )
    key, key_id = _key(gw, "log-batch")
    lines = [chat_line("ok-1"), chat_line("ok-2", model="fake/tools"), chat_line("bad", model="fake/fail-400")]
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {key}"}, timeout=30) as c:
        uploaded = c.post("/v1/files", files={"file": ("in.jsonl", jsonl(lines))}, data={"purpose": "batch"})
        assert uploaded.status_code == 200, uploaded.text
        body = {"input_file_id": uploaded.json()["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        batch = c.post("/v1/batches", json=body).json()
        assert wait_batch(c, batch["id"])["request_counts"] == {"total": 3, "completed": 2, "failed": 1}
    logged = _get(gw, key, "/v1/logs", limit=50).json()["data"]
    items = {row["request_id"]: row for row in logged if row["endpoint"] == "/v1/batches"}
    assert set(items) == {f"{batch['id']}:{custom_id}" for custom_id in ("ok-1", "ok-2", "bad")}
    first = _get(gw, key, f"/v1/logs/{batch['id']}:ok-1").json()
    assert first["status"] == 200 and first["model"] == "fake/echo" and first["key_id"] == key_id
    assert first["usage"]["prompt_tokens"] > 0 and first["cost"] is not None
    assert [(a["model"], a["outcome"]) for a in first["attempts"]] == [("fake/echo", "ok")]
    assert items[f"{batch['id']}:ok-2"]["model"] == "fake/tools"
    bad = items[f"{batch['id']}:bad"]
    assert (
        bad["status"] == 422 and bad["error_code"] == "validation_error" and bad["requested_model"] == "fake/fail-400"
    )
    assert bad["model"] is None and bad["attempt_count"] == 1


def _dropped(gw: Gateway) -> float:
    text = httpx.get(gw.url + "/metrics", headers={"authorization": f"Bearer {ADMIN}"}, timeout=30).text
    line = next(x for x in text.splitlines() if x.startswith("meshapi_request_log_dropped_total "))
    return float(line.split()[1])


def test_a_full_queue_drops_counts_and_reports(
    gateway_factory: Callable[..., Gateway], caplog: pytest.LogCaptureFixture
) -> None:
    """While the database is locked, the queue holds ``max_queued`` records and drops the rest: counted in
    /metrics and reported in a warning, never silently. Once the lock is gone the held records are written."""
    gw = gateway_factory(admin_token=ADMIN, request_log={"max_queued": 100})
    key, _ = _key(gw, "log-full")
    before = _dropped(gw)
    lock = sqlite3.connect(gw.settings.resolved_database_url().split(":///", 1)[1], isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the writer's transaction waits for this one
    try:
        rids = [_rid() for _ in range(130)]
        for rid in rids:
            assert _chat(gw, key, rid).status_code == 200
        assert _dropped(gw) - before == 30
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    with caplog.at_level(logging.WARNING, logger="meshapi_gateway.request_log"):
        page = _get(gw, key, "/v1/logs", limit=1000)
        assert page.status_code == 200, page.text
        assert {d["request_id"] for d in page.json()["data"]} == set(rids[:100])
    assert "queue was full (100 records): 30 records were dropped" in caplog.text
