"""The OpenAI-compatible adapter's request head made once per deployment sends the general path's bytes.

Seeded cases of deployments, the entry's and the deployment's headers (overrides of the adapter's
and the client's own headers, line breaks, characters beyond Latin-1), keys, URLs, request ids and
traces: the bytes (or the error) of a made head, used twice, and of the general path are the same,
as are the upstream spans the trace records.
"""

from __future__ import annotations

import os
import random
from typing import Any, Callable

import pytest

from meshapi_gateway.catalog.catalog import Deployment, ModelEntry
from meshapi_gateway.http_client.client import request_bytes
from meshapi_gateway.observability.record import current
from meshapi_gateway.observability.trace_context import TraceContext
from meshapi_gateway.providers import http_call, upstream_head
from meshapi_gateway.providers.base import CallContext, Target
from meshapi_gateway.providers.openai_compat.adapter import OpenAICompatProvider

NAMES = ["x-a", "X-Team", "authorization", "Authorization", "content-type", "x-request-id", "X-Request-Id"]
NAMES += [
    "x-api-key",
    "anthropic-version",
    "x-goog-api-key",
    "traceparent",
    "host",
    "Host",
    "USER-AGENT",
    "accept-encoding",
    "Content-Length",
    "x-b\r",
    "x\nc",
    "é-x",
]
VALUES = ["v", "", "a b", "Bearer zz", "bad\r\nx: y", "bad\n", "é", "€", "\t"]
URLS = ["http://127.0.0.1:8080/v1", "https://api.example.com/v1/", "http://[::1]:9000", "http://h/v1?x=1"]
URLS += ["https://h:443/a", "ftp://nope/v1", "http:///v1", "http://é.com/v1"]
IDS = ["req_1", "", "a b", "x\ry", "x\r\ny", "x\n", "é", "€", "\t"]
KEYS = ["", "sk-1", "sk é", "sk-€", "k\r\n"]
# (key header, key prefix, the adapter's own headers): the adapters', then ones the made head must decline.
WAYS = [("authorization", "Bearer ", {}), ("x-api-key", "", {"anthropic-version": "2023-06-01"})]
WAYS += [("x-goog-api-key", "", {}), ("x-api-key", "", {"anthropic-version": "1", "anthropic-beta": "b"})]
WAYS += [("x-api-key", "", {"content-type": "text/x"}), ("x-api-key", "", {"x-request-id": "1"})]
WAYS += [("x-api-key", "", {"Host": "h"}), ("x-api-key", "", {"a": "b\r\n"}), ("content-type", "", {})]


class _Record:
    def __init__(self, trace: TraceContext | None) -> None:
        self.trace = trace


Way = tuple[str, str, dict[str, str]]


def _general(target: Target, ctx: CallContext, url: str, body: bytes, way: Way) -> bytes:
    key_header, prefix, fixed = way
    headers = http_call.upstream_headers(target, ctx, key_header, key_prefix=prefix, fixed=fixed)
    return request_bytes("POST", url, headers, body)[1]


def _made(target: Target, ctx: CallContext, url: str, body: bytes, way: Way) -> bytes:
    """The adapters' way: the head made once, the general path when it declines."""
    head = upstream_head.head_for(url, target, *way)
    raw = upstream_head.bytes_for(head, ctx.request_id, body)
    return ("made", raw) if raw is not None else ("general", _general(target, ctx, url, body, way))  # type: ignore[return-value]


def _outcome(seed: int, trace: TraceContext | None, make: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    """What ``make(*args)`` answers or raises, with the spans it recorded, its child span ids drawn from ``seed``."""
    draws = random.Random(seed)
    real, os.urandom = os.urandom, draws.randbytes
    try:
        try:
            got: tuple[Any, ...] = ("bytes", make(*args))
        except Exception as exc:
            got = ("error", type(exc).__name__, str(exc))
    finally:
        os.urandom = real
    spans = None if trace is None else [span for span, _ in trace.upstream]
    if trace is not None:
        trace.upstream.clear()
    return got, spans


@pytest.mark.parametrize("seed", range(6))
def test_made_head_sends_the_general_paths_bytes(seed: int) -> None:
    rng = random.Random(seed)
    made = 0
    for _ in range(1000):
        extra = Deployment(base_url=rng.choice([*URLS, ""]), headers=_headers(rng))
        entry = ModelEntry(id="m", base_url=rng.choice(URLS), headers=_headers(rng), deployments=[extra])
        target = Target(entry, rng.choice(entry.all_deployments()), rng.choice(KEYS))
        url = (target.deployment.base_url or entry.base_url).rstrip("/") + rng.choice(["/chat/completions", "/x"])
        assert (
            OpenAICompatProvider()._url(target, "/x")
            == (target.deployment.base_url or entry.base_url).rstrip("/") + "/x"
        )
        body = rng.choice([b"", b'{"model":"m"}' * rng.randint(1, 9)])
        ctx = CallContext(rng.choice(IDS), None)  # type: ignore[arg-type]
        way = rng.choice(WAYS[:3]) if rng.random() < 0.7 else rng.choice(WAYS)
        trace = TraceContext("ab" * 16, "cd" * 8, None, rng.random() < 0.5) if rng.random() < 0.5 else None
        token = current.set(_Record(trace) if rng.random() < 0.9 else None)  # type: ignore[arg-type]
        try:
            if rng.random() < 0.3:  # a head made before the catalog's headers changed in place
                target.heads[url] = upstream_head.make_head(url, target, *rng.choice(WAYS))
                changed = target.deployment.headers if rng.random() < 0.5 else target.entry.headers
                changed[rng.choice(NAMES)] = rng.choice(VALUES)
            draw = rng.randrange(1 << 30)
            (kind, *expected), spans = _outcome(draw, trace, _general, target, ctx, url, body, way)
            for _ in range(2):  # made, then reused
                (kind, *got), got_spans = _outcome(draw, trace, _made, target, ctx, url, body, way)
                if kind == "bytes":
                    made += got[0][0] == "made"
                    got = [got[0][1]]
                assert (got, got_spans) == (expected, spans)
        finally:
            current.reset(token)
    assert made > 100  # the made head did answer, not only the general path


def _headers(rng: random.Random) -> dict[str, str]:
    return {rng.choice(NAMES): rng.choice(VALUES) for _ in range(rng.choice([0, 0, 0, 1, 2]))}


def test_a_subclass_that_changes_the_headers_takes_the_general_path() -> None:
    from meshapi_gateway.providers.local.provider import LocalProvider
    from meshapi_gateway.providers.openai_compat.adapter import OpenAICompatProvider

    assert OpenAICompatProvider.heads_made_once
    assert not LocalProvider.heads_made_once  # it drops the request id and adds the child server's key
