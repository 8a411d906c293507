"""Response checks before timing, and streaming time-to-first/last-chunk measured one request at a time."""

from __future__ import annotations

import http.client
import json
import statistics
import time
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

import fixtures


class CheckFailed(RuntimeError):
    pass


def _conn(url: str) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30), parts.path


def check_chat(url: str, body: str, headers: Mapping[str, str]) -> None:
    """One non-streaming call must return 200 and a chat completion carrying the fixed answer."""
    conn, path = _conn(url)
    try:
        conn.request("POST", path, body=body.encode(), headers=dict(headers))
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        raise CheckFailed(f"chat: HTTP {resp.status}: {data[:300]!r}")
    try:
        obj = json.loads(data)
        content = obj["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise CheckFailed(f"chat: not a chat completion ({exc}): {data[:300]!r}") from None
    if fixtures.MARKER not in content:
        raise CheckFailed(f"chat: unexpected content {content!r}")


def check_header(url: str, body: str, headers: Mapping[str, str], expect: tuple[str, str]) -> None:
    """One call must answer 200 with the response header ``expect`` (name, value): e.g. a cache hit."""
    conn, path = _conn(url)
    try:
        conn.request("POST", path, body=body.encode(), headers=dict(headers))
        resp = conn.getresponse()
        resp.read()
    finally:
        conn.close()
    got = resp.getheader(expect[0])
    if resp.status != 200 or got != expect[1]:
        raise CheckFailed(f"HTTP {resp.status}, {expect[0]}: {got!r} (wanted {expect[1]!r})")


def _events(raw: bytes) -> list[str]:
    text = raw.decode("utf-8", "replace").replace("\r\n", "\n")
    out = []
    for frame in text.split("\n\n"):
        data = [ln[5:].lstrip(" ") for ln in frame.split("\n") if ln.startswith("data:")]
        if data:
            out.append("\n".join(data))
    return out


def check_stream(url: str, body: str, headers: Mapping[str, str]) -> None:
    """One streaming call must return SSE chunks with the fixed content, ending in [DONE]."""
    conn, path = _conn(url)
    try:
        conn.request("POST", path, body=body.encode(), headers=dict(headers))
        resp = conn.getresponse()
        data = resp.read()
        ctype = resp.getheader("content-type", "")
    finally:
        conn.close()
    if resp.status != 200:
        raise CheckFailed(f"stream: HTTP {resp.status}: {data[:300]!r}")
    if "text/event-stream" not in ctype:
        raise CheckFailed(f"stream: content-type {ctype!r}")
    events = _events(data)
    if not events or events[-1] != "[DONE]":
        raise CheckFailed(f"stream: does not end with [DONE]: {data[-300:]!r}")
    text = ""
    for ev in events[:-1]:
        obj = json.loads(ev)
        for choice in obj.get("choices") or []:
            text += (choice.get("delta") or {}).get("content") or ""
    if fixtures.MARKER not in text:
        raise CheckFailed(f"stream: content {text[:200]!r} lacks the fixed answer")


@dataclass
class StreamTiming:
    n: int
    first_p50_ms: float
    first_p90_ms: float
    last_p50_ms: float
    last_p90_ms: float


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def stream_samples(
    url: str, body: str, headers: Mapping[str, str], n: int, warmup: int = 20, max_seconds: float = 60.0
) -> tuple[list[float], list[float]]:
    """Sequential streaming calls on one keep-alive connection: ms from send to first data and to EOF, each call."""
    conn, path = _conn(url)
    payload = body.encode()
    firsts: list[float] = []
    lasts: list[float] = []
    deadline = time.monotonic() + max_seconds
    try:
        for i in range(warmup + n):
            if time.monotonic() > deadline:
                break
            t0 = time.perf_counter()
            conn.request("POST", path, body=payload, headers=dict(headers))
            resp = conn.getresponse()
            if resp.status != 200:
                raise CheckFailed(f"stream timing: HTTP {resp.status}: {resp.read()[:200]!r}")
            first = 0.0
            seen = bytearray()
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                if not first and b"data:" in chunk:
                    first = time.perf_counter()
                seen += chunk
            seen += resp.read()  # releases the connection for the next request
            last = time.perf_counter()
            if b"[DONE]" not in seen:
                raise CheckFailed("stream timing: stream ended without [DONE]")
            if resp.will_close:
                conn.close()
                conn, path = _conn(url)
            if i >= warmup:
                firsts.append((first - t0) * 1000)
                lasts.append((last - t0) * 1000)
    finally:
        conn.close()
    return firsts, lasts


def stream_timing(
    url: str, body: str, headers: Mapping[str, str], n: int, warmup: int = 20, max_seconds: float = 60.0
) -> StreamTiming:
    """Medians and p90s of :func:`stream_samples`."""
    firsts, lasts = stream_samples(url, body, headers, n, warmup, max_seconds)
    if not firsts:
        raise CheckFailed("stream timing: no request completed in time")
    return StreamTiming(
        n=len(firsts),
        first_p50_ms=statistics.median(firsts),
        first_p90_ms=_pct(firsts, 0.9),
        last_p50_ms=statistics.median(lasts),
        last_p90_ms=_pct(lasts, 0.9),
    )
