"""``Idempotency-Key`` without the database on the request path: memory first, the table behind.

The gateway's engine is watched with a ``before_cursor_execute`` listener that notes which
asyncio task issued each statement; a statement issued by a task serving an HTTP request
is on that request's path. Background work (the batched idempotency writer, key-cache
and balance refreshes, the ledger writer) runs in tasks of its own and is allowed.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from typing import Any, Iterator

import httpx
import pytest
from gwtest.faulty_upstream import FaultyUpstream
from gwtest.harness import Gateway, start_gateway
from gwtest.recording_billing import gateway_state
from sqlalchemy import event

PRICES = {"prompt_usd_per_1m": "1", "completion_usd_per_1m": "2"}
BODY = {"model": "hot/model", "messages": [{"role": "user", "content": "once"}]}
ADMIN = "admin-" + "h" * 40


def catalog(url: str) -> list[dict[str, Any]]:
    return [
        {
            "id": "hot/model",
            "upstream_model": "hot",
            "provider": "openai_compat",
            "base_url": url,
            "api_key": "sk-test",
            **PRICES,
        }
    ]


class StatementProbe:
    """Statements the gateway sends to its database, split by whether an HTTP request's task sent them."""

    def __init__(self, gw: Gateway) -> None:
        self.engine = gateway_state(gw).engine.sync_engine
        self.on_request_path: list[str] = []
        self.in_background: list[str] = []

    def _seen(self, conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        try:
            task = asyncio.current_task()
        except RuntimeError:
            task = None
        coro = task.get_coro() if task is not None else None
        serving = coro is not None and getattr(coro, "__qualname__", "").endswith("run_asgi")
        (self.on_request_path if serving else self.in_background).append(statement)

    def __enter__(self) -> "StatementProbe":
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


@pytest.fixture(scope="module")
def faulty() -> Iterator[FaultyUpstream]:
    upstream = FaultyUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture
def hot(tmp_path: Any, faulty: FaultyUpstream) -> Iterator[Gateway]:
    faulty.reset_counts()
    faulty.plan("hot", then="ok")
    gw = start_gateway(tmp_path, faulty.url, models=catalog(faulty.url), retry_max_rounds=0, admin_token=ADMIN)
    yield gw
    gw.server.stop()


def post(gw: Gateway, key: str, idem: str, body: dict[str, Any] = BODY) -> httpx.Response:
    with gw.client(key) as c:
        return c.post("/v1/chat/completions", json=body, headers={"idempotency-key": idem})


def rows(gw: Gateway) -> list[tuple[str, int]]:
    with sqlite3.connect(gw.settings.data_dir / "gateway.db") as conn:
        return conn.execute("select state, status from idempotency_keys").fetchall()


def test_keyed_requests_issue_no_database_statement(hot: Gateway, faulty: FaultyUpstream) -> None:
    key = hot.create_key("hot-owner")
    with hot.client(key) as c:
        assert c.post("/v1/chat/completions", json=BODY).status_code == 200  # the key is now cached
    with StatementProbe(hot) as probe:
        idem = str(uuid.uuid4())
        first = post(hot, key, idem)
        replay = post(hot, key, idem)
        stream = post(hot, key, str(uuid.uuid4()), {**BODY, "stream": True})
        mismatch = post(hot, key, idem, {**BODY, "messages": [{"role": "user", "content": "other"}]})
        # The probe does see statements made on a request's path (key creation writes at once).
        with httpx.Client(base_url=hot.url, headers={"authorization": f"Bearer {ADMIN}"}) as admin:
            assert admin.post("/v1/keys", json={"owner": "someone", "name": "x"}).status_code == 201
        gateway_state(hot).idempotency.writer._wake.set()
        for _ in range(200):
            if len(rows(hot)) == 2:
                break
            time.sleep(0.02)
    assert first.status_code == replay.status_code == stream.status_code == 200
    assert replay.headers["idempotent-replayed"] == "true" and mismatch.status_code == 422
    assert faulty.calls["hot"] == 3  # the unkeyed warm-up, the first keyed call and the stream
    assert any("api_keys" in s for s in probe.on_request_path)
    # The admin's key creation writes the key and its audit event; nothing else is on a request's path.
    keyed_path = [s for s in probe.on_request_path if "api_keys" not in s and "audit_events" not in s]
    assert keyed_path == []
    # Written behind the requests, by the writer (on a SQLite file through its own connection, which this
    # probe of the engine does not see).
    assert gateway_state(hot).idempotency.writer.written >= 2
    assert sorted(rows(hot)) == [("done", 200), ("done", 200)]


def test_answers_written_only_at_a_graceful_stop_still_replay_after_restart(
    tmp_path: Any, faulty: FaultyUpstream
) -> None:
    faulty.reset_counts()
    faulty.plan("hot", then="ok")
    gw = start_gateway(tmp_path, faulty.url, models=catalog(faulty.url))
    key = gw.create_key("restart-owner")
    gateway_state(gw).idempotency.writer.flush_seconds = 3600.0  # nothing written while running
    keys = [str(uuid.uuid4()) for _ in range(3)]
    firsts = [post(gw, key, k) for k in keys]
    stream_key = str(uuid.uuid4())
    first_stream = post(gw, key, stream_key, {**BODY, "stream": True})
    assert rows(gw) == []
    gw.server.stop()  # graceful: the queue is flushed
    assert len(rows(gw)) == 4
    again = start_gateway(tmp_path, faulty.url, models=catalog(faulty.url))
    try:
        seconds = [post(again, key, k) for k in keys]
        second_stream = post(again, key, stream_key, {**BODY, "stream": True})
        different = post(again, key, keys[0], {**BODY, "messages": [{"role": "user", "content": "else"}]})
    finally:
        again.server.stop()
    for first, second in zip(firsts, seconds):
        assert second.headers.get("idempotent-replayed") == "true" and second.content == first.content
    assert second_stream.text == first_stream.text and second_stream.headers["idempotent-replayed"] == "true"
    assert different.status_code == 422
    assert faulty.calls["hot"] == 4  # nothing ran twice


def test_answers_memory_let_go_are_read_back_from_the_database(hot: Gateway, faulty: FaultyUpstream) -> None:
    service = gateway_state(hot).idempotency
    service.table.body_budget = 1  # no body stays in memory
    key = hot.create_key("tight-owner")
    idem = str(uuid.uuid4())
    first = post(hot, key, idem)
    replay_from_queue = post(hot, key, idem)  # not yet written: served from the write queue
    hot.server.stop()
    # Keep one key in memory (the setting): the rest are forgotten and looked up in the table.
    again = start_gateway(hot.settings.data_dir, faulty.url, models=catalog(faulty.url), idempotency_memory_max_keys=1)
    try:
        tight = gateway_state(again).idempotency
        assert tight.table.max_keys == 1
        other = str(uuid.uuid4())
        assert post(again, key, other).status_code == 200
        assert len(tight.table) == 1 and tight.table.forgotten(int(time.time()))
        replay_from_table = post(again, key, idem)
        mismatch = post(again, key, idem, {**BODY, "stream": True})
    finally:
        again.server.stop()
    assert replay_from_queue.content == first.content == replay_from_table.content
    assert replay_from_table.headers["idempotent-replayed"] == "true" and mismatch.status_code == 422
    assert faulty.calls["hot"] == 2
