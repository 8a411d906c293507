"""Retry policy: unit tests of the delay rules and end-to-end retries over real sockets."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from scripted_server import FakeClock, ScriptedServer, empty_reply, hang_reply, json_reply, raw_reply

from meshapi import APIConnectionError, APITimeoutError, MeshAPI, MeshAPIError, RateLimitError
from meshapi._retry import MAX_DELAY, parse_retry_after, retry_delay

OK_MODELS = json_reply(200, [])
UNAVAILABLE = json_reply(503, {"error": {"code": "provider_not_available", "message": "busy"}})


def test_backoff_doubles_and_caps() -> None:
    delays = [retry_delay(n, None, lambda: 0.0) for n in range(10)]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert max(d for d in delays if d is not None) == MAX_DELAY


def test_jitter_only_shortens_backoff_by_up_to_a_quarter() -> None:
    assert retry_delay(1, None, lambda: 1.0) == 0.75
    assert retry_delay(1, None, lambda: 0.0) == 1.0


@pytest.mark.parametrize("rand", [0.0, 0.5, 0.999])
def test_jitter_never_undercuts_retry_after(rand: float) -> None:
    for attempt in range(6):
        delay = retry_delay(attempt, 5.0, lambda: rand)
        assert delay is not None and delay >= 5.0


def test_too_long_retry_after_is_not_waited_out() -> None:
    assert retry_delay(0, 3600.0, lambda: 0.5) is None


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    date = format_datetime(now + timedelta(seconds=12), usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now.timestamp) == 12.0
    assert parse_retry_after({"retry-after": "garbage"}) is None
    assert parse_retry_after({}) is None


def test_429_retry_after_is_honoured(client: MeshAPI, server: ScriptedServer, clock: FakeClock) -> None:
    limited = json_reply(429, {"error": {"code": "rate_limit_exceeded"}}, Retry_After="2")
    server.on("GET", "/v1/models", limited, OK_MODELS)
    assert client.models.list() == []
    assert len(clock.sleeps) == 1 and 2.0 <= clock.sleeps[0] <= 2.2


def test_http_date_and_ms_headers(client: MeshAPI, server: ScriptedServer, clock: FakeClock) -> None:
    date = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=4), usegmt=True)
    server.on(
        "GET",
        "/v1/models",
        json_reply(503, {}, Retry_After=date),
        json_reply(429, {}, retry_after_ms="1500"),
        OK_MODELS,
    )
    client.models.list()
    assert 2.0 < clock.sleeps[0] <= 4.5
    assert 1.5 <= clock.sleeps[1] <= 1.7


def test_post_retries_reuse_idempotency_key_and_request_id(
    client: MeshAPI, server: ScriptedServer, clock: FakeClock
) -> None:
    server.on("POST", "/v1/templates", UNAVAILABLE, json_reply(502, {}), json_reply(200, {"id": "t1", "name": "n"}))
    assert client.templates.create(name="n").id == "t1"
    keys = {r.headers["idempotency-key"] for r in server.requests}
    rids = {r.headers["x-request-id"] for r in server.requests}
    assert len(server.requests) == 3 and len(keys) == 1 and len(rids) == 1
    assert clock.sleeps == [0.5 * 0.875, 1.0 * 0.875]


def test_gives_up_after_max_retries(server: ScriptedServer, clock: FakeClock) -> None:
    client = MeshAPI(base_url=server.url, token="t", max_retries=2)
    client._transport.sleep = clock
    server.on("GET", "/v1/models", UNAVAILABLE)
    with pytest.raises(MeshAPIError) as info:
        client.models.list()
    assert info.value.status == 503 and info.value.error_code == "provider_not_available"
    assert len(server.requests) == 3 and len(clock.sleeps) == 2


def test_max_retries_zero_disables(server: ScriptedServer, clock: FakeClock) -> None:
    client = MeshAPI(base_url=server.url, token="t", max_retries=0)
    client._transport.sleep = clock
    server.on("GET", "/v1/models", json_reply(429, {}))
    with pytest.raises(RateLimitError):
        client.models.list()
    assert len(server.requests) == 1 and clock.sleeps == []


def test_500_and_4xx_are_not_retried(client: MeshAPI, server: ScriptedServer, clock: FakeClock) -> None:
    server.on("GET", "/v1/models", json_reply(500, {"error": {"code": "internal_error", "message": "x"}}))
    server.on("DELETE", "/v1/files/f", json_reply(404, {}))
    with pytest.raises(MeshAPIError):
        client.models.list()
    with pytest.raises(MeshAPIError):
        client.files.delete("f")
    assert len(server.requests) == 2 and clock.sleeps == []


def test_delete_is_retried(client: MeshAPI, server: ScriptedServer, clock: FakeClock) -> None:
    server.on("DELETE", "/v1/templates/t", json_reply(504, {}), empty_reply(204))
    assert client.templates.delete("t") is None
    assert len(clock.sleeps) == 1


def test_connection_refused_is_retried_then_api_connection_error(clock: FakeClock) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = MeshAPI(base_url=f"http://127.0.0.1:{port}", token="t", max_retries=2)
    client._transport.sleep = clock
    with pytest.raises(APIConnectionError) as info:
        client.models.list()
    assert info.value.error_code == "connection_error" and info.value.request_id
    assert len(clock.sleeps) == 2


def test_dropped_connection_is_retried(client: MeshAPI, server: ScriptedServer, clock: FakeClock) -> None:
    server.on("GET", "/v1/models", hang_reply(0.0), OK_MODELS)
    assert client.models.list() == []
    assert len(clock.sleeps) == 1


def test_read_timeout_maps_to_api_timeout_error(server: ScriptedServer, clock: FakeClock) -> None:
    client = MeshAPI(base_url=server.url, token="t", timeout=0.05, max_retries=1)
    client._transport.sleep = clock
    server.on("GET", "/v1/models", hang_reply(0.3))
    with pytest.raises(APITimeoutError) as info:
        client.models.list()
    assert isinstance(info.value, APIConnectionError) and info.value.error_code == "timeout"
    assert len(clock.sleeps) == 1  # one retry, then the timeout was raised


def test_retry_of_non_json_503(client: MeshAPI, server: ScriptedServer, clock: FakeClock) -> None:
    server.on("GET", "/v1/models", raw_reply(503, b"Service Unavailable", "text/plain"), OK_MODELS)
    assert client.models.list() == []
