"""``Idempotency-Key``: a retried POST gets the first attempt's answer and is billed once."""

from __future__ import annotations

import threading
import uuid
from typing import Any, Iterator

import httpx
import pytest
from gwtest.faulty_upstream import FaultyUpstream
from gwtest.harness import Gateway, start_gateway
from gwtest.recording_billing import RecordingBilling, install_recording_billing

PRICES = {"prompt_usd_per_1m": "1", "completion_usd_per_1m": "2"}


def catalog(url: str) -> list[dict[str, Any]]:
    common = {"provider": "openai_compat", "base_url": url, "api_key": "sk-test", **PRICES}
    return [
        {"id": "idem/model", "upstream_model": "idem", **common},
        {"id": "idem/other", "upstream_model": "other", **common},
    ]


@pytest.fixture(scope="module")
def faulty() -> Iterator[FaultyUpstream]:
    upstream = FaultyUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def igw(tmp_path_factory: pytest.TempPathFactory, faulty: FaultyUpstream) -> Iterator[Gateway]:
    gw = start_gateway(tmp_path_factory.mktemp("idem"), faulty.url, models=catalog(faulty.url), retry_max_rounds=0)
    yield gw
    gw.server.stop()


@pytest.fixture
def billing(igw: Gateway, faulty: FaultyUpstream) -> Iterator[RecordingBilling]:
    faulty.reset_counts()
    faulty.plan("idem", then="ok")
    recorder = install_recording_billing(igw)
    recorder.records.clear()
    yield recorder
    assert faulty.wait_idle(10)


BODY = {"model": "idem/model", "messages": [{"role": "user", "content": "once"}]}


def post(gw: Gateway, key: str, idem: str | None, body: dict[str, Any] = BODY, **kw: Any) -> httpx.Response:
    headers = {"idempotency-key": idem} if idem else {}
    with gw.client(key) as c:
        return c.post("/v1/chat/completions", json=body, headers=headers, **kw)


def test_repeated_key_replays_the_first_answer_and_bills_once(
    igw: Gateway, faulty: FaultyUpstream, billing: RecordingBilling
) -> None:
    key = igw.create_key("idem-a")
    idem = str(uuid.uuid4())
    first = post(igw, key, idem)
    second = post(igw, key, idem)
    assert first.status_code == second.status_code == 200
    assert second.content == first.content  # the same completion id, text, usage and cost
    assert second.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert second.headers["x-request-id"] != first.headers["x-request-id"]
    assert faulty.calls["idem"] == 1
    assert len(billing.records) == 1


def test_repeated_key_replays_a_stream(igw: Gateway, faulty: FaultyUpstream, billing: RecordingBilling) -> None:
    key = igw.create_key("idem-a")
    idem = str(uuid.uuid4())
    body = {**BODY, "stream": True}
    first = post(igw, key, idem, body)
    second = post(igw, key, idem, body)
    assert first.text.endswith("data: [DONE]\n\n")
    assert second.text == first.text
    assert second.headers["content-type"].startswith("text/event-stream")
    assert faulty.calls["idem"] == 1 and len(billing.records) == 1


def test_same_key_different_request_is_rejected(igw: Gateway, billing: RecordingBilling) -> None:
    key = igw.create_key("idem-a")
    idem = str(uuid.uuid4())
    assert post(igw, key, idem).status_code == 200
    r = post(igw, key, idem, {**BODY, "messages": [{"role": "user", "content": "something else"}]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unprocessable_entity"
    assert len(billing.records) == 1


def test_keys_are_per_owner(igw: Gateway, faulty: FaultyUpstream, billing: RecordingBilling) -> None:
    idem = str(uuid.uuid4())
    a = post(igw, igw.create_key("owner-one"), idem)
    b = post(igw, igw.create_key("owner-two"), idem)
    assert a.status_code == b.status_code == 200 and "idempotent-replayed" not in b.headers
    assert faulty.calls["idem"] == 2
    # Another key of the same owner shares the owner's keys.
    c = post(igw, igw.create_key("owner-one"), idem)
    assert c.headers.get("idempotent-replayed") == "true" and c.content == a.content


def test_failed_attempt_releases_the_key(igw: Gateway, faulty: FaultyUpstream, billing: RecordingBilling) -> None:
    key = igw.create_key("idem-a")
    idem = str(uuid.uuid4())
    faulty.plan("idem", "status:503", then="ok")
    assert post(igw, key, idem).status_code == 503
    r = post(igw, key, idem)
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    assert faulty.calls["idem"] == 2 and len(billing.records) == 1


def test_concurrent_duplicates_run_once(igw: Gateway, faulty: FaultyUpstream, billing: RecordingBilling) -> None:
    key = igw.create_key("idem-a")
    idem = str(uuid.uuid4())
    faulty.plan("idem", "slow:0.5", then="ok")
    results: list[httpx.Response] = []

    def go() -> None:
        results.append(post(igw, key, idem))

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [r.status_code for r in results] == [200] * 4
    assert len({r.content for r in results}) == 1
    assert faulty.calls["idem"] == 1 and len(billing.records) == 1


def test_abandoned_attempt_does_not_block_the_retry(
    igw: Gateway, faulty: FaultyUpstream, billing: RecordingBilling
) -> None:
    key = igw.create_key("idem-a")
    idem = str(uuid.uuid4())
    faulty.plan("idem", "slow:30", then="ok")
    with pytest.raises(httpx.ReadTimeout):
        post(igw, key, idem, timeout=0.5)  # the client gives up; the gateway cancels the upstream call
    r = post(igw, key, idem)
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    assert len(billing.records) == 1


def test_remembered_across_a_restart(tmp_path_factory: pytest.TempPathFactory, faulty: FaultyUpstream) -> None:
    folder = tmp_path_factory.mktemp("idem-restart")
    gw = start_gateway(folder, faulty.url, models=catalog(faulty.url))
    key = gw.create_key("idem-r")
    idem = str(uuid.uuid4())
    faulty.reset_counts()
    first = post(gw, key, idem)
    gw.server.stop()
    again = start_gateway(folder, faulty.url, models=catalog(faulty.url))
    try:
        second = post(again, key, idem)
    finally:
        again.server.stop()
    assert second.headers.get("idempotent-replayed") == "true" and second.content == first.content
    assert faulty.calls["idem"] == 1


def test_sdk_retry_after_a_lost_response_is_billed_once(
    igw: Gateway, faulty: FaultyUpstream, billing: RecordingBilling
) -> None:
    from meshapi import MeshAPI

    class LoseFirstResponse(httpx.BaseTransport):
        """The first answer reaches the gateway's client side and is then lost on the way back."""

        def __init__(self) -> None:
            self.inner = httpx.HTTPTransport()
            self.keys: list[str] = []

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            self.keys.append(request.headers.get("idempotency-key", ""))
            response = self.inner.handle_request(request)
            if len(self.keys) == 1:
                response.read()
                response.close()
                raise httpx.ReadError("connection lost", request=request)
            return response

    transport = LoseFirstResponse()
    client = MeshAPI(
        base_url=igw.url,
        token=igw.create_key("sdk-owner"),
        max_retries=2,
        httpx_client=httpx.Client(transport=transport, timeout=30),
    )
    reply = client.chat.completions.create(model="idem/model", messages=[{"role": "user", "content": "once"}])
    assert reply.choices[0].message.content == "answer from idem"
    assert len(transport.keys) == 2 and transport.keys[0] == transport.keys[1] != ""
    assert faulty.calls["idem"] == 1 and len(billing.records) == 1


def test_other_post_routes_honour_the_key(gateway: Gateway, key: str, fake_openai: Any) -> None:
    idem = str(uuid.uuid4())
    body = {"model": "fake/embed", "input": ["one", "two"]}
    before = len(fake_openai.recorder.requests)
    with gateway.client(key) as c:
        first = c.post("/v1/embeddings", json=body, headers={"idempotency-key": idem})
        second = c.post("/v1/embeddings", json=body, headers={"idempotency-key": idem})
        plain = c.post("/v1/embeddings", json=body)
    assert first.status_code == second.status_code == plain.status_code == 200, first.text
    assert second.content == first.content and second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in plain.headers
    assert len(fake_openai.recorder.requests) - before == 2  # the repeat never reached the upstream


def test_new_api_keys_are_never_stored_for_replay(
    tmp_path_factory: pytest.TempPathFactory, faulty: FaultyUpstream
) -> None:
    admin = "admin-" + "q" * 40
    gw = start_gateway(tmp_path_factory.mktemp("idem-keys"), faulty.url, models=catalog(faulty.url), admin_token=admin)
    try:
        headers = {"authorization": f"Bearer {admin}", "idempotency-key": "create-once"}
        with httpx.Client(base_url=gw.url, timeout=30) as c:
            first = c.post("/v1/keys", json={"owner": "k-owner", "name": "one"}, headers=headers)
            second = c.post("/v1/keys", json={"owner": "k-owner", "name": "one"}, headers=headers)
        assert first.status_code == second.status_code == 201
        assert first.json()["key"] not in second.text  # nothing replayed, and nothing kept
        import sqlite3

        rows = (
            sqlite3.connect(gw.settings.data_dir / "gateway.db").execute("select body from idempotency_keys").fetchall()
        )
        assert all(b"rsk_" not in (body or b"") for (body,) in rows)
    finally:
        gw.server.stop()
