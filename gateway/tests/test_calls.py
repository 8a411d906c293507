"""The call layer's extension points, through a real gateway: admission checks and call observers."""

from __future__ import annotations

import contextlib
import time
from decimal import Decimal
from typing import Any, Iterator

import httpx
import pytest

from gwtest.harness import Gateway
from gwtest.recording_billing import gateway_state
from meshapi_gateway.calls import AdmissionCheck, Call, CallRecord
from meshapi_gateway.catalog import ModelEntry
from meshapi_gateway.errors import GatewayError

HI = [{"role": "user", "content": "hi there"}]


class Observer:
    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    def finished(self, record: CallRecord) -> None:
        self.records.append(record)

    def wait_for(self, request_id: str, timeout: float = 5.0) -> CallRecord:
        """Streams report once they have settled, which may be just after the client read the last frame."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.records:
                if record.request_id == request_id:
                    return record
            time.sleep(0.02)
        raise AssertionError(f"no record for {request_id}")


class Budget(AdmissionCheck):
    """Reserves a fixed amount per call, refuses once the reservations exceed the budget, settles on release."""

    def __init__(self, budget: Decimal, hold: Decimal, banned: str | None = None) -> None:
        self.left = budget
        self.hold = hold
        self.banned = banned
        self.released: list[CallRecord] = []

    async def admit(self, call: Call) -> None:
        if self.left < self.hold:
            raise GatewayError("spend_limit_exceeded", "The key's budget is used up.")
        self.left -= self.hold
        call.reserved["budget"] = self.hold

    def allow(self, call: Call, entry: ModelEntry) -> None:
        if entry.id == self.banned:
            raise GatewayError("forbidden", f"Model '{entry.id}' is not allowed for this key.")

    def release(self, call: Call, record: CallRecord) -> None:
        self.left += call.reserved.pop("budget") - (record.cost or Decimal(0))
        self.released.append(record)


@pytest.fixture
def hooks(gateway: Gateway) -> Iterator[tuple[Any, Observer]]:
    state = gateway_state(gateway)
    observer = Observer()
    state.call_observers.append(observer)
    yield state, observer
    state.call_observers.remove(observer)
    state.admission_checks.clear()


def test_observer_sees_a_chat_call(gateway: Gateway, key: str, hooks: tuple[Any, Observer]) -> None:
    _, observer = hooks
    with gateway.client(key) as c:
        r = c.post("/v1/chat/completions", json={"model": "fake/echo", "messages": HI})
    assert r.status_code == 200, r.text
    record = observer.wait_for(r.headers["x-request-id"])
    assert (record.endpoint, record.requested_model, record.model) == ("chat", "fake/echo", "fake/echo")
    assert record.deployment == "fake/echo#0"
    assert [(a.model, a.outcome) for a in record.attempts] == [("fake/echo", "ok")]
    assert (record.status, record.error_code, record.streamed) == (200, None, False)
    assert record.principal.owner == "alice"
    assert record.usage is not None and record.usage["total_tokens"] == r.json()["usage"]["total_tokens"]
    assert record.cost is not None and abs(Decimal(r.json()["cost"]) - record.cost) < Decimal("0.000001")


def test_observer_sees_a_stream_and_its_first_token(gateway: Gateway, key: str, hooks: tuple[Any, Observer]) -> None:
    _, observer = hooks
    with gateway.client(key) as c:
        r = c.post("/v1/chat/completions", json={"model": "fake/echo", "messages": HI, "stream": True})
    assert r.status_code == 200, r.text
    assert r.text.rstrip().endswith("[DONE]")
    record = observer.wait_for(r.headers["x-request-id"])
    assert record.streamed and record.status == 200 and record.error_code is None
    assert record.time_to_first_token is not None and record.time_to_first_token <= record.duration
    assert record.usage is not None and record.cost is not None


def test_a_stream_whose_billing_fails_is_settled_once(
    gateway: Gateway, key: str, hooks: tuple[Any, Observer], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, observer = hooks
    open_before = state.chat.open_streams

    async def broken_add_tokens(principal: Any, tokens: int) -> None:
        raise RuntimeError("limits store down")

    monkeypatch.setattr(state.limits, "add_tokens", broken_add_tokens)
    with gateway.client(key) as c:
        with c.stream("POST", "/v1/chat/completions", json={"model": "fake/echo", "messages": HI, "stream": True}) as r:
            request_id = r.headers["x-request-id"]
            with contextlib.suppress(httpx.HTTPError):  # the answer may be cut where billing failed
                r.read()
    observer.wait_for(request_id)
    time.sleep(0.3)  # a second or third settlement would report again by now
    assert [rec.request_id for rec in observer.records].count(request_id) == 1
    assert state.chat.open_streams == open_before


def test_observer_sees_every_attempt_of_a_fallback(gateway: Gateway, key: str, hooks: tuple[Any, Observer]) -> None:
    _, observer = hooks
    with gateway.client(key) as c:
        r = c.post("/v1/chat/completions", json={"model": "fake/flaky", "messages": HI})
    assert r.status_code == 200, r.text
    assert r.headers["x-meshapi-fallback"] == "fake/flaky,fake/echo"
    record = observer.wait_for(r.headers["x-request-id"])
    assert record.requested_model == "fake/flaky" and record.model == "fake/echo"
    outcomes = [(a.model, a.outcome) for a in record.attempts]
    assert outcomes[-1] == ("fake/echo", "ok")
    assert ("fake/flaky", "provider_not_available") in outcomes or ("fake/flaky", "upstream_error") in outcomes


def test_observer_sees_a_failed_call(gateway: Gateway, key: str, hooks: tuple[Any, Observer]) -> None:
    _, observer = hooks
    with gateway.client(key) as c:
        r = c.post("/v1/chat/completions", json={"model": "fake/fail-400", "messages": HI})
    assert r.status_code == 422, r.text  # the upstream's refusal of the request
    record = observer.wait_for(r.headers["x-request-id"])
    assert record.status == 422 and record.error_code == r.json()["error"]["code"]
    assert record.model is None and record.cost is None


def test_admission_check_refuses_before_anything_is_called(
    gateway: Gateway, key: str, hooks: tuple[Any, Observer]
) -> None:
    state, observer = hooks
    budget = Budget(Decimal(0), Decimal(1))
    state.admission_checks.append(budget)
    with gateway.client(key) as c:
        r = c.post("/v1/chat/completions", json={"model": "fake/echo", "messages": HI})
    assert r.status_code == 402, r.text
    assert r.json()["error"]["code"] == "spend_limit_exceeded"
    record = observer.wait_for(r.headers["x-request-id"])
    assert record.attempts == [] and record.status == 402
    assert budget.released == []  # refused in admit: nothing was reserved


def test_admission_check_reserves_and_releases_with_the_cost(
    gateway: Gateway, key: str, hooks: tuple[Any, Observer]
) -> None:
    state, _ = hooks
    budget = Budget(Decimal(5), Decimal(1))
    state.admission_checks.append(budget)
    with gateway.client(key) as c:
        plain = c.post("/v1/chat/completions", json={"model": "fake/echo", "messages": HI})
        streamed = c.post("/v1/chat/completions", json={"model": "fake/echo", "messages": HI, "stream": True})
    assert plain.status_code == 200 and streamed.status_code == 200
    deadline = time.monotonic() + 5
    while len(budget.released) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [r.request_id for r in budget.released] == [plain.headers["x-request-id"], streamed.headers["x-request-id"]]
    spent = sum((r.cost or Decimal(0) for r in budget.released), Decimal(0))
    assert spent > 0 and budget.left == Decimal(5) - spent


def test_admission_check_skips_a_candidate_model(gateway: Gateway, key: str, hooks: tuple[Any, Observer]) -> None:
    state, observer = hooks
    state.admission_checks.append(Budget(Decimal(5), Decimal(0), banned="fake/echo"))
    with gateway.client(key) as c:
        skipped = c.post(
            "/v1/chat/completions", json={"model": "fake/echo", "models": ["fake/free-echo"], "messages": HI}
        )
        refused = c.post("/v1/chat/completions", json={"model": "fake/echo", "messages": HI})
    assert skipped.status_code == 200, skipped.text
    assert skipped.json()["model"] == "fake/free-echo"
    assert [a.model for a in observer.wait_for(skipped.headers["x-request-id"]).attempts] == ["fake/free-echo"]
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "forbidden"


def test_observer_hears_of_an_idempotent_replay(gateway: Gateway, key: str, hooks: tuple[Any, Observer]) -> None:
    _, observer = hooks
    headers = {"idempotency-key": "calls-replay-1"}
    with gateway.client(key) as c:
        first = c.post("/v1/chat/completions", json={"model": "fake/echo", "messages": HI}, headers=headers)
        again = c.post("/v1/chat/completions", json={"model": "fake/echo", "messages": HI}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    original = observer.wait_for(first.headers["x-request-id"])
    replay = observer.wait_for(again.headers["x-request-id"])
    assert not original.replayed and original.cost is not None
    assert replay.replayed and replay.endpoint == "chat" and replay.cost is None and replay.attempts == []


# --- every data-plane endpoint goes through the call layer --------------------------------------------------------


def test_observer_sees_embeddings_responses_and_compare(
    gateway: Gateway, key: str, hooks: tuple[Any, Observer]
) -> None:
    _, observer = hooks
    with gateway.client(key) as c:
        emb = c.post("/v1/embeddings", json={"model": "fake/embed", "input": ["one", "two"]})
        resp = c.post("/v1/responses", json={"model": "fake/echo", "input": "hello"})
        cmp = c.post(
            "/v1/chat/compare",
            json={"models": ["fake/echo", "fake/free-echo"], "messages": HI, "skip_comparison": True},
        )
    assert emb.status_code == resp.status_code == cmp.status_code == 200, (emb.text, resp.text, cmp.text)
    e = observer.wait_for(emb.headers["x-request-id"])
    assert (e.endpoint, e.model, e.status) == ("embeddings", "fake/embed", 200)
    assert e.usage is not None and e.cost is not None
    r = observer.wait_for(resp.headers["x-request-id"])
    assert (r.endpoint, r.model, r.status) == ("responses", "fake/echo", 200)
    rid = cmp.headers["x-request-id"]
    parts = {observer.wait_for(f"{rid}::{m}").model for m in ("fake/echo", "fake/free-echo")}
    assert parts == {"fake/echo", "fake/free-echo"}


EMBEDDING = {"provider": "openai_compat", "api_key": "sk-fake", "model_type": "embedding", "prompt_usd_per_1m": "1"}


@pytest.fixture(scope="module")
def emb_gateway(tmp_path_factory: pytest.TempPathFactory, fake_openai: Any) -> Iterator[Gateway]:
    from gwtest.harness import fake_models, start_gateway

    url = fake_openai.url
    extra = [
        # The failing deployment weighs so much more that it is always tried first.
        {
            "id": "emb/two-deps",
            "upstream_model": "fail-503",
            "base_url": url,
            "weight": 1000,
            "deployments": [{"base_url": url, "api_key": "sk-fake", "upstream_model": "embed", "weight": 0.001}],
            **EMBEDDING,
        },
        {"id": "emb/down", "upstream_model": "fail-503", "base_url": url, "fallbacks": ["fake/embed"], **EMBEDDING},
        {"id": "emb/slow", "upstream_model": "slow-3", "base_url": url, **EMBEDDING},
    ]
    gw = start_gateway(tmp_path_factory.mktemp("emb"), url, models=fake_models(url) + extra)
    yield gw
    gw.server.stop()


def test_embeddings_fallback_header_lists_distinct_models(emb_gateway: Gateway) -> None:
    key = emb_gateway.create_key("emb")
    with emb_gateway.client(key) as c:
        retried = c.post("/v1/embeddings", json={"model": "emb/two-deps", "input": "x"})
        fell_back = c.post("/v1/embeddings", json={"model": "emb/down", "input": "x"})
    assert retried.status_code == 200, retried.text
    # Another deployment of the same model answered: not a fallback, as on chat.
    assert "x-meshapi-fallback" not in retried.headers
    assert retried.headers["x-resolved-model-id"] == "emb/two-deps"
    assert fell_back.status_code == 200, fell_back.text
    assert fell_back.headers["x-meshapi-fallback"] == "emb/down,fake/embed"


def test_embeddings_counts_upstream_errors(emb_gateway: Gateway) -> None:
    key = emb_gateway.create_key("emb")
    with emb_gateway.client(key) as c:
        assert c.post("/v1/embeddings", json={"model": "emb/down", "input": "x"}).status_code == 200
        text = c.get("/metrics").text
    assert any(
        line.startswith("meshapi_upstream_errors_total") and 'model="emb/down"' in line for line in text.splitlines()
    )


def test_embeddings_honour_the_request_timeout(emb_gateway: Gateway) -> None:
    key = emb_gateway.create_key("emb")
    with emb_gateway.client(key) as c:
        r = c.post("/v1/embeddings", json={"model": "emb/slow", "input": "x", "timeout": 0.5})
    assert r.status_code >= 500, r.text
    assert r.json()["error"]["code"] == "gateway_timeout"
