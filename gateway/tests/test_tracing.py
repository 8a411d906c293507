"""OpenTelemetry traces: a real OTLP/HTTP receiver started here decodes what the gateway exports.

One server span per request continuing the client's ``traceparent``, a client span per
upstream attempt whose id is the one the upstream received, GenAI attributes and ours.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any, Callable, Iterator

import httpx
import pytest
from gwtest.accounts_support import ADMIN
from gwtest.harness import FakeUpstream, Gateway
from gwtest.otlp_receiver import OTLPReceiver, Span

SERVER, CLIENT = 2, 3  # the protobuf's SpanKind values
STATUS_ERROR = 2


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    r = OTLPReceiver().start()
    yield r
    r.stop()


def _key(gw: Gateway, owner: str) -> tuple[str, str]:
    r = httpx.post(gw.url + "/v1/keys", headers={"authorization": f"Bearer {ADMIN}"}, json={"owner": owner})
    return str(r.json()["key"]), str(r.json()["id"])


def _wait(receiver: OTLPReceiver, trace_id: str, count: int) -> list[Span]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        spans = receiver.of_trace(trace_id)
        if len(spans) >= count:
            return spans
        time.sleep(0.2)
    raise AssertionError(f"{len(receiver.of_trace(trace_id))} spans of trace {trace_id}, expected {count}")


def test_spans_continue_the_client_trace_and_name_each_attempt(
    gateway_factory: Callable[..., Gateway], receiver: OTLPReceiver, fake_openai: FakeUpstream
) -> None:
    gw = gateway_factory(admin_token=ADMIN, otel_endpoint=receiver.url, otel_service_name="gw-under-test")
    key, key_id = _key(gw, "trace-owner")
    trace_id, client_span = os.urandom(16).hex(), os.urandom(8).hex()
    fake_openai.recorder.clear()
    r = httpx.post(
        gw.url + "/v1/chat/completions",
        json={"model": "fake/flaky", "messages": [{"role": "user", "content": "hello"}]},
        headers={"authorization": f"Bearer {key}", "traceparent": f"00-{trace_id}-{client_span}-01"},
    )
    assert r.status_code == 200 and r.headers["x-meshapi-fallback"]
    upstream_parents = [req["headers"].get("traceparent") for req in fake_openai.recorder.requests]
    assert len(upstream_parents) >= 2 and all(p and p.startswith(f"00-{trace_id}-") for p in upstream_parents)

    spans = _wait(receiver, trace_id, 1 + len(upstream_parents))
    (server,) = [s for s in spans if s.kind == SERVER]
    assert server.parent_span_id == client_span and server.service == "gw-under-test"
    a = server.attributes
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.system"] == "openai_compat"
    assert a["gen_ai.request.model"] == "fake/flaky" and a["gen_ai.response.model"] == "fake/echo"
    assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["meshapi.owner"] == "trace-owner" and a["meshapi.key_id"] == key_id
    assert float(a["meshapi.cost"]) > 0 and a["meshapi.fallback"] is True
    assert a["http.response.status_code"] == 200 and server.name == "chat fake/echo"

    children = sorted((s for s in spans if s.kind == CLIENT), key=lambda s: s.start_ns)
    assert all(c.parent_span_id == server.span_id for c in children)
    # The ids the upstream received are the attempts' span ids.
    assert [c.span_id for c in children] == [p.split("-")[2] for p in upstream_parents]
    assert children[0].attributes["gen_ai.request.model"] == "fake/flaky"
    assert children[0].status_code == STATUS_ERROR and children[0].attributes["error.type"]
    assert children[-1].attributes["gen_ai.request.model"] == "fake/echo"
    assert children[-1].attributes["meshapi.outcome"] == "ok"
    assert all(server.start_ns <= c.start_ns <= c.end_ns <= server.end_ns for c in children)


def test_a_request_without_traceparent_starts_a_trace_and_a_failure_is_marked(
    gateway_factory: Callable[..., Gateway], receiver: OTLPReceiver, fake_openai: FakeUpstream
) -> None:
    gw = gateway_factory(admin_token=ADMIN, otel_endpoint=receiver.url + "/v1/traces")
    key, _ = _key(gw, "trace-new")
    fake_openai.recorder.clear()
    r = httpx.post(
        gw.url + "/v1/chat/completions",
        json={"model": "fake/fail-500", "messages": [{"role": "user", "content": "hello"}]},
        headers={"authorization": f"Bearer {key}"},
    )
    assert r.status_code >= 500
    sent = fake_openai.recorder.requests[0]["headers"]["traceparent"]
    trace_id = sent.split("-")[1]
    spans = _wait(receiver, trace_id, 2)
    (server,) = [s for s in spans if s.kind == SERVER]
    assert server.parent_span_id == "" and server.status_code == STATUS_ERROR
    assert server.attributes["error.type"] == r.json()["error"]["code"]
    assert "gen_ai.response.model" not in server.attributes
    assert all(c.status_code == STATUS_ERROR for c in spans if c.kind == CLIENT)
    assert receiver.content_types[0] == "application/x-protobuf"


def test_without_an_endpoint_nothing_is_traced_or_loaded(fake_openai: FakeUpstream, tmp_path: Any) -> None:
    """No traceparent goes upstream, and the process never imports OpenTelemetry."""
    code = f"""
import sys, httpx
from gwtest.harness import start_gateway
gw = start_gateway(__import__("pathlib").Path({str(tmp_path)!r}), {fake_openai.url!r})
key = gw.create_key("no-trace")
r = httpx.post(gw.url + "/v1/chat/completions", json={{"model": "fake/echo", "messages": [
    {{"role": "user", "content": "hi"}}]}}, headers={{"authorization": "Bearer " + key}})
assert r.status_code == 200, r.text
gw.server.stop()
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
    fake_openai.recorder.clear()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert "traceparent" not in fake_openai.recorder.requests[-1]["headers"]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "00-abc-def-01",
        "00-" + "0" * 32 + "-" + "1" * 16 + "-01",
        "ff-" + "a" * 32 + "-" + "b" * 16 + "-01",
        "00-" + "a" * 32 + "-" + "b" * 16,
    ],
)
def test_invalid_traceparent_starts_a_new_trace(value: str) -> None:
    from meshapi_gateway.observability.trace_context import TraceContext, parse_traceparent

    assert parse_traceparent(value.encode()) is None
    ctx = TraceContext.start(value.encode())
    assert ctx.parent_span_id is None and len(ctx.trace_id) == 32 and ctx.sampled
