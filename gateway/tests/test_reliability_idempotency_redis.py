"""``Idempotency-Key`` across replicas that share only Redis (each has its own SQLite database)."""

from __future__ import annotations

import threading
import uuid
from typing import Any, Iterator

import httpx
import pytest
from gwtest.faulty_upstream import FaultyUpstream
from gwtest.harness import Gateway, start_gateway

PRICES = {"prompt_usd_per_1m": "1", "completion_usd_per_1m": "2"}
BODY = {"model": "shared/model", "messages": [{"role": "user", "content": "once"}]}


def catalog(url: str) -> list[dict[str, Any]]:
    return [
        {
            "id": "shared/model",
            "upstream_model": "shared",
            "provider": "openai_compat",
            "base_url": url,
            "api_key": "sk-test",
            **PRICES,
        }
    ]


@pytest.fixture(scope="module")
def faulty() -> Iterator[FaultyUpstream]:
    upstream = FaultyUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture
def pair(
    tmp_path_factory: pytest.TempPathFactory, faulty: FaultyUpstream, redis_url: str
) -> Iterator[tuple[Gateway, Gateway]]:
    faulty.reset_counts()
    faulty.plan("shared", then="ok")
    gateways = [
        start_gateway(
            tmp_path_factory.mktemp(f"replica-{name}"),
            faulty.url,
            models=catalog(faulty.url),
            retry_max_rounds=0,
            redis_url=redis_url,
        )
        for name in ("a", "b")
    ]
    yield gateways[0], gateways[1]
    for gw in gateways:
        gw.server.stop()
    assert faulty.wait_idle(10)


def keys_for(pair: tuple[Gateway, Gateway], owner: str) -> tuple[str, str]:
    # Separate databases, so each replica gets its own API key of the same owner.
    return pair[0].create_key(owner), pair[1].create_key(owner)


def post(gw: Gateway, key: str, idem: str, body: dict[str, Any] = BODY, **kw: Any) -> httpx.Response:
    with gw.client(key) as c:
        return c.post("/v1/chat/completions", json=body, headers={"idempotency-key": idem}, **kw)


def test_a_duplicate_on_another_replica_replays_the_first_answer(
    pair: tuple[Gateway, Gateway], faulty: FaultyUpstream
) -> None:
    key_a, key_b = keys_for(pair, "shared-owner")
    idem = str(uuid.uuid4())
    first = post(pair[0], key_a, idem)
    second = post(pair[1], key_b, idem)
    stream_idem = str(uuid.uuid4())
    first_stream = post(pair[1], key_b, stream_idem, {**BODY, "stream": True})
    second_stream = post(pair[0], key_a, stream_idem, {**BODY, "stream": True})
    assert first.status_code == second.status_code == 200
    assert second.content == first.content and second.headers["idempotent-replayed"] == "true"
    assert second_stream.text == first_stream.text and second_stream.headers["idempotent-replayed"] == "true"
    assert post(pair[1], key_b, idem, {**BODY, "stream": True}).status_code == 422
    other_owner = pair[1].create_key("someone-else")
    fresh = post(pair[1], other_owner, idem)
    assert fresh.status_code == 200 and "idempotent-replayed" not in fresh.headers  # keys are per owner
    assert faulty.calls["shared"] == 3


def test_concurrent_duplicates_on_two_replicas_run_once(pair: tuple[Gateway, Gateway], faulty: FaultyUpstream) -> None:
    keys = keys_for(pair, "race-owner")
    idem = str(uuid.uuid4())
    faulty.plan("shared", "slow:0.6", then="ok")
    results: list[httpx.Response] = []

    def go(i: int) -> None:
        results.append(post(pair[i % 2], keys[i % 2], idem))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [r.status_code for r in results] == [200] * 6
    assert len({r.content for r in results}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in results) == 5
    assert faulty.calls["shared"] == 1


def test_a_failed_attempt_on_one_replica_lets_the_other_run(
    pair: tuple[Gateway, Gateway], faulty: FaultyUpstream
) -> None:
    key_a, key_b = keys_for(pair, "retry-owner")
    idem = str(uuid.uuid4())
    faulty.plan("shared", "status:503", then="ok")
    assert post(pair[0], key_a, idem).status_code == 503
    retried = post(pair[1], key_b, idem)
    assert retried.status_code == 200 and "idempotent-replayed" not in retried.headers
    assert post(pair[0], key_a, idem).headers["idempotent-replayed"] == "true"
    assert faulty.calls["shared"] == 2


def test_reliability_and_idempotency_share_one_redis_client(pair: tuple[Gateway, Gateway]) -> None:
    """The first area to need Redis opens the client; the next one uses it instead of opening its own."""
    from gwtest.recording_billing import gateway_state

    state = gateway_state(pair[0])
    assert state.redis is not None
    assert state.idempotency is not None and state.idempotency.shared is not None
    assert state.idempotency.shared.redis is state.redis
