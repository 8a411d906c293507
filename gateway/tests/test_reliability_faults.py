"""Fault injection: every upstream failure, streamed and not, with and without a fallback.

For each fault the tests check what the client sees (the fallback's answer, or the right
error status / error frame), what was billed (once, by the model that answered) and that
the fake upstream has no call left running afterwards.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import httpx
import pytest
from gwtest.faulty_upstream import FaultyUpstream, closed_port_url
from gwtest.harness import Gateway, start_gateway
from gwtest.recording_billing import RecordingBilling, install_recording_billing

PRICES = {"prompt_usd_per_1m": "1", "completion_usd_per_1m": "2"}


def reliability_models(url: str) -> list[dict[str, Any]]:
    common = {"provider": "openai_compat", "base_url": url, "api_key": "sk-test", **PRICES}
    quick = {"first_token_timeout": 1.0, "idle_timeout": 1.0, "total_timeout": 3.0}
    return [
        {"id": "rel/primary", "upstream_model": "primary", "fallbacks": ["rel/backup"], **common, **quick},
        {"id": "rel/backup", "upstream_model": "backup", **common},
        {"id": "rel/solo", "upstream_model": "solo", **common, **quick},
        {
            **common,
            "id": "rel/refused",
            "base_url": closed_port_url(),
            "upstream_model": "refused",
            "fallbacks": ["rel/backup"],
        },
        {**common, "id": "rel/refused-solo", "base_url": closed_port_url(), "upstream_model": "refused"},
    ]


@pytest.fixture(scope="module")
def faulty() -> Iterator[FaultyUpstream]:
    upstream = FaultyUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def rgw(tmp_path_factory: pytest.TempPathFactory, faulty: FaultyUpstream) -> Iterator[Gateway]:
    # Breakers out of the way here (they have their own tests): every request must meet its fault.
    gw = start_gateway(
        tmp_path_factory.mktemp("rel"),
        faulty.url,
        models=reliability_models(faulty.url),
        retry_max_rounds=1,
        retry_backoff_base=0.05,
        breaker_failure_threshold=10_000,
        breaker_min_requests=10_000,
    )
    yield gw
    gw.server.stop()


@pytest.fixture(scope="module")
def rkey(rgw: Gateway) -> str:
    return rgw.create_key("rel-owner")


@pytest.fixture
def billing(rgw: Gateway, faulty: FaultyUpstream) -> Iterator[RecordingBilling]:
    faulty.reset_counts()
    recorder = install_recording_billing(rgw)
    recorder.records.clear()
    yield recorder
    assert faulty.wait_idle(10), "an upstream call was left running"


def sse_events(text: str) -> list[str]:
    frames = text.split("\n\n")
    assert frames[-1] == "", "the stream must end with a complete frame"
    return [line[len("data: ") :] for f in frames[:-1] for line in f.split("\n") if line.startswith("data: ")]


def post(gw: Gateway, key: str, model: str, stream: bool, **extra: Any) -> httpx.Response:
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hello"}], **extra}
    with gw.client(key) as c:
        return c.post("/v1/chat/completions", json=body)


def streamed_text(events: list[str]) -> str:
    out = []
    for e in events:
        if e == "[DONE]":
            continue
        data = json.loads(e)
        for ch in data.get("choices") or []:
            out.append(ch.get("delta", {}).get("content") or "")
    return "".join(out)


BEFORE_FIRST_BYTE = [
    "status:500",
    "status:502",
    "status:503",
    "status:429:1",
    "reset",
    "slow:5",
    "malformed-json",
    "malformed-sse",
]
STREAM_ONLY_EARLY = ["cut:0", "stall:0"]


def _fault(name: str, stream: bool) -> str:
    if name == "malformed-json":
        return "badjson:0" if stream else "badjson"
    if name == "malformed-sse":
        return "badsse"
    return name


EARLY_CASES = [
    *((fault, stream) for fault in [*BEFORE_FIRST_BYTE, "refused"] for stream in (False, True)),
    *((fault, True) for fault in STREAM_ONLY_EARLY),  # headers sent, then nothing usable
    ("cut-body", False),
    ("stall-body", False),  # a non-streamed body cut or stalled halfway
]


@pytest.mark.parametrize(
    ("fault", "stream"), EARLY_CASES, ids=[f"{f}-{'sse' if s else 'json'}" for f, s in EARLY_CASES]
)
def test_fault_before_first_byte_falls_back(
    rgw: Gateway, rkey: str, faulty: FaultyUpstream, billing: RecordingBilling, fault: str, stream: bool
) -> None:
    model = "rel/refused" if fault == "refused" else "rel/primary"
    behaviour = {"cut-body": "cut", "stall-body": "stall"}.get(fault, _fault(fault, stream))
    faulty.plan("primary", behaviour)
    r = post(rgw, rkey, model, stream)
    assert r.status_code == 200, r.text
    assert r.headers["x-meshapi-fallback"] == f"{model},rel/backup"
    if stream:
        events = sse_events(r.text)
        assert events[-1] == "[DONE]"
        assert not any('"error"' in e for e in events)
        assert streamed_text(events) == "answer from backup"
        last = json.loads(events[-2])
        assert last["choices"] == [] and last["usage"]["completion_tokens"] == 3
        assert all(json.loads(e)["model"] == "rel/backup" for e in events[:-1])
    else:
        data = r.json()
        assert data["model"] == "rel/backup"
        assert data["choices"][0]["message"]["content"] == "answer from backup"
    records = billing.for_request(r.headers["x-request-id"])
    assert [(x.model, x.prompt_tokens, x.completion_tokens) for x in records] == [("rel/backup", 10, 3)]
    assert faulty.calls["backup"] == 1
    assert faulty.calls["primary"] == (0 if fault == "refused" else 1)


MID_STREAM = {"cut:2": "upstream_error", "stall:2": "gateway_timeout", "badjson:2": "upstream_error"}


@pytest.mark.parametrize("fault", list(MID_STREAM))
def test_fault_after_first_byte_is_error_frame(
    rgw: Gateway, rkey: str, faulty: FaultyUpstream, billing: RecordingBilling, fault: str
) -> None:
    faulty.plan("primary", fault)
    r = post(rgw, rkey, "rel/primary", True)
    assert r.status_code == 200
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    err = json.loads(events[-2])["error"]
    assert err["code"] == MID_STREAM[fault]
    assert err["request_id"] == r.headers["x-request-id"]
    # What arrived before the failure came from the primary; no usage chunk pretends the answer finished.
    assert streamed_text(events[:-2]) == "answer"
    assert not any(json.loads(e).get("usage") for e in events[:-2])
    assert "x-meshapi-fallback" not in r.headers
    records = billing.for_request(r.headers["x-request-id"])
    assert len(records) == 1 and records[0].model == "rel/primary"
    assert records[0].completion_tokens >= 1
    assert faulty.calls["backup"] == 0


NO_FALLBACK = {
    "status:500": (500, "upstream_error"),
    "status:502": (500, "upstream_error"),
    "status:503": (503, "upstream_error"),
    "status:429:1": (429, "rate_limit_exceeded"),
    "reset": (500, "upstream_error"),
    "slow:5": (500, "gateway_timeout"),
    "malformed-json": (500, "upstream_error"),
    "refused": (500, "upstream_error"),
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("fault", list(NO_FALLBACK))
def test_fault_without_fallback_is_the_right_error(
    rgw: Gateway, rkey: str, faulty: FaultyUpstream, billing: RecordingBilling, fault: str, stream: bool
) -> None:
    model = "rel/refused-solo" if fault == "refused" else "rel/solo"
    faulty.plan("solo", then=_fault(fault, stream))
    r = post(rgw, rkey, model, stream)
    status, code = NO_FALLBACK[fault]
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["error"]["code"] == code
    assert body["request_id"] == r.headers["x-request-id"]
    if status == 429:
        assert body["error"]["retry_after_seconds"] == 1 and r.headers["retry-after"] == "1"
    assert billing.for_request(r.headers["x-request-id"], wait=0.2, expect=1) == []
    # One retry round (retry_max_rounds=1) after the first failure, never more.
    assert faulty.calls["solo"] == (0 if fault == "refused" else 2)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_transient_failure_is_retried_and_billed_once(
    rgw: Gateway, rkey: str, faulty: FaultyUpstream, billing: RecordingBilling, stream: bool
) -> None:
    faulty.plan("solo", "status:503", then="ok")
    r = post(rgw, rkey, "rel/solo", stream)
    assert r.status_code == 200
    if stream:
        assert streamed_text(sse_events(r.text)) == "answer from solo"
    else:
        assert r.json()["choices"][0]["message"]["content"] == "answer from solo"
    assert faulty.calls["solo"] == 2
    assert "x-meshapi-fallback" not in r.headers  # a retry of the same model is not a fallback
    records = billing.for_request(r.headers["x-request-id"])
    assert [x.model for x in records] == ["rel/solo"]


def test_request_timeout_field_bounds_the_whole_request(
    rgw: Gateway, rkey: str, faulty: FaultyUpstream, billing: RecordingBilling
) -> None:
    faulty.plan("backup", "slow:10")
    r = post(rgw, rkey, "rel/backup", False, timeout=1)
    assert r.status_code == 500 and r.json()["error"]["code"] == "gateway_timeout"
    assert billing.for_request(r.headers["x-request-id"], wait=0.2) == []


def test_both_clients_see_fallbacks_as_normal_streams_and_failures_as_errors(
    rgw: Gateway, rkey: str, faulty: FaultyUpstream, billing: RecordingBilling
) -> None:
    import openai
    from meshapi import MeshAPI, MeshAPIError

    messages = [{"role": "user", "content": "hello"}]
    oai = openai.OpenAI(base_url=rgw.url + "/v1", api_key=rkey, max_retries=0)
    sdk = MeshAPI(base_url=rgw.url, token=rkey, max_retries=0)
    # Before the first byte: a fallback, and both clients see an ordinary stream.
    faulty.plan("primary", "reset")
    text = "".join(
        c.choices[0].delta.content or ""
        for c in oai.chat.completions.create(model="rel/primary", messages=messages, stream=True)
        if c.choices
    )
    assert text == "answer from backup"
    faulty.plan("primary", "status:503")
    chunks = list(sdk.chat.completions.stream(model="rel/primary", messages=messages))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "answer from backup"
    # After it: the stream ends in an error for both, never as if the answer were complete.
    faulty.plan("primary", "cut:2")
    seen: list[str] = []
    with pytest.raises(openai.APIError):
        for c in oai.chat.completions.create(model="rel/primary", messages=messages, stream=True):
            seen.extend(ch.delta.content or "" for ch in c.choices)
    assert "".join(seen) == "answer"
    faulty.plan("primary", "stall:2")
    with pytest.raises(MeshAPIError) as info:
        for _ in sdk.chat.completions.stream(model="rel/primary", messages=messages):
            pass
    assert info.value.error_code == "gateway_timeout"
    assert [r.model for r in billing.records] == ["rel/backup", "rel/backup", "rel/primary", "rel/primary"]
