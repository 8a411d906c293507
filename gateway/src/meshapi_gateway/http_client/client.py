"""The gateway's upstream HTTP client: keep-alive pools per origin, one write per request.

Why not aiohttp: on a proxy whose upstream answers in microseconds the client is a
large share of the work, and aiohttp's general machinery (payload registry, multidicts,
tracing hooks, a timer object per call) cost about a third of a proxied request here.
What the gateway needs is narrower: POST a JSON body (or GET), read a whole answer or
relay a stream, time each phase out, reuse connections. See docs/performance.md.
"""

from __future__ import annotations

import asyncio
import ssl
from functools import lru_cache
from typing import Any, Coroutine, Mapping
from urllib.parse import urlsplit

from meshapi_gateway import __version__
from meshapi_gateway.http_client.connection import Connection, Origin
from meshapi_gateway.http_client.errors import ConnectTimeout, TransportError
from meshapi_gateway.http_client.response import Response
from meshapi_gateway.running_loop import running_loop

USER_AGENT = f"meshapi-gateway/{__version__}"
# Headers the client writes itself unless the caller gave them.
OWN_HEADERS = frozenset({"host", "content-length", "user-agent", "accept-encoding"})


@lru_cache(maxsize=1024)
def _split(url: str) -> tuple[Origin, str, str]:
    """(origin, request target, Host header) of an absolute http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TransportError(f"not an http(s) URL: {url!r}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    host = parts.hostname
    host_header = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        host_header += f":{parts.port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (tls, host, port), target, host_header


@lru_cache(maxsize=1024)
def plain_head(method: str, url: str) -> tuple[Origin, str, str]:
    """(origin, request line and Host, the client's own headers after the length) when the caller gave none."""
    origin, target, host = _split(url)
    return (
        origin,
        f"{method} {target} HTTP/1.1\r\nhost: {host}\r\n",
        f"user-agent: {USER_AGENT}\r\naccept-encoding: gzip, deflate\r\n",
    )


def request_bytes(method: str, url: str, headers: Mapping[str, str], body: bytes) -> tuple[Origin, bytes]:
    given = OWN_HEADERS.intersection(map(str.lower, headers))
    if not given:  # the usual request: its fixed lines are made once per URL
        origin, start, own = plain_head(method, url)
        length = f"content-length: {len(body)}\r\n" if body or method not in ("GET", "HEAD") else ""
        block = "".join([f"{k}: {v}\r\n" for k, v in headers.items()])
        if block.count("\n") != len(headers) or block.count("\r") != len(headers):
            raise TransportError("a header name or value contains a line break")
        return origin, (start + length + own + block + "\r\n").encode("latin-1") + body
    origin, target, host = _split(url)
    lines = [f"{method} {target} HTTP/1.1\r\n"]
    if "host" not in given:
        lines.append(f"host: {host}\r\n")
    if body or method not in ("GET", "HEAD"):
        lines.append(f"content-length: {len(body)}\r\n")
    if "user-agent" not in given:
        lines.append(f"user-agent: {USER_AGENT}\r\n")
    if "accept-encoding" not in given:
        lines.append("accept-encoding: gzip, deflate\r\n")
    block = "".join([f"{k}: {v}\r\n" for k, v in headers.items()])
    if block.count("\n") != len(headers) or block.count("\r") != len(headers):
        raise TransportError("a header name or value contains a line break")
    lines.append(block)
    lines.append("\r\n")
    return origin, "".join(lines).encode("latin-1") + body


class HTTPClient:
    """One per process, shared by every adapter: connections are reused across requests and upstreams."""

    def __init__(
        self,
        *,
        keepalive_seconds: float = 60.0,
        max_idle_per_origin: int = 256,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.keepalive_seconds = keepalive_seconds
        self.max_idle_per_origin = max_idle_per_origin
        self._ssl = ssl_context
        self._idle: dict[Origin, list[Connection]] = {}
        self._closed = False

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        connect_timeout: float,
        read_timeout: float,
        total_timeout: float | None = None,
    ) -> Response:
        return await self.request(
            "POST",
            url,
            body,
            headers,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            total_timeout=total_timeout,
        )

    async def get(self, url: str, headers: Mapping[str, str] | None = None, *, timeout: float) -> Response:
        return await self.request(
            "GET", url, b"", headers or {}, connect_timeout=timeout, read_timeout=timeout, total_timeout=timeout
        )

    def request(
        self,
        method: str,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        connect_timeout: float,
        read_timeout: float,
        total_timeout: float | None = None,
    ) -> Coroutine[Any, Any, Response]:
        """Send the request and wait for the response head; the body is the response's to read.

        ``read_timeout`` bounds every wait for upstream bytes, ``total_timeout`` (if given)
        the whole exchange including the body.
        """
        if self._closed:
            raise TransportError("the HTTP client is closed")
        origin, payload = request_bytes(method, url, headers, body)
        return self.send(
            origin, payload, connect_timeout=connect_timeout, read_timeout=read_timeout, total_timeout=total_timeout
        )

    async def send(
        self,
        origin: Origin,
        payload: bytes,
        *,
        connect_timeout: float,
        read_timeout: float,
        total_timeout: float | None = None,
    ) -> Response:
        """``request`` for a request already in bytes (``request_bytes``' answer, or the same made otherwise)."""
        if self._closed:
            raise TransportError("the HTTP client is closed")
        # A kept-alive connection brings its loop, the running one: ``get_running_loop()`` asks
        # the kernel for the process id on every call, a system call per request for nothing.
        conn = self._reusable(origin)
        if conn is None:
            loop = running_loop()
            deadline = None if total_timeout is None else loop.time() + total_timeout
            timeout = connect_timeout if deadline is None else min(connect_timeout, deadline - loop.time())
            conn = await self._connect(loop, origin, timeout)
        else:
            deadline = None if total_timeout is None else conn.loop.time() + total_timeout
        conn.begin()
        # No second try on a fresh connection when a kept-alive one fails: the upstream may have
        # read the request before it hung up, and a second send could be a second bill. The
        # router decides about retries; idle connections the upstream closed are never picked.
        try:
            conn.send(payload)
            while not conn.head_done:
                await conn.wait(read_timeout, deadline)
            return Response(self, conn, read_timeout, deadline)
        except BaseException:
            conn.close()
            raise

    def _reusable(self, origin: Origin) -> Connection | None:
        stack = self._idle.get(origin)
        while stack:
            conn = stack.pop()
            transport = conn.transport
            if (
                not conn.closed
                and transport is not None
                and not transport.is_closing()
                and conn.loop.time() - conn.idle_since < self.keepalive_seconds
            ):
                return conn
            conn.close()
        return None

    async def _connect(self, loop: asyncio.AbstractEventLoop, origin: Origin, timeout: float) -> Connection:
        tls, host, port = origin
        if timeout <= 0:
            raise ConnectTimeout(0)
        context = None
        if tls:
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            context = self._ssl
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    lambda: Connection(loop, origin), host, port, ssl=context, server_hostname=host if tls else None
                )
        except TimeoutError:
            raise ConnectTimeout(timeout) from None
        except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            raise TransportError(f"cannot connect to {host}:{port}: {exc}") from exc
        return conn

    def put_back(self, conn: Connection) -> None:
        if self._closed:
            conn.close()
            return
        conn.active = False
        conn.idle_since = conn.loop.time()
        stack = self._idle.setdefault(conn.origin, [])
        stack.append(conn)
        if len(stack) > self.max_idle_per_origin:
            stack.pop(0).close()

    def idle_connections(self) -> int:
        return sum(1 for stack in self._idle.values() for conn in stack if not conn.closed)

    async def aclose(self) -> None:
        self._closed = True
        for stack in self._idle.values():
            for conn in stack:
                conn.close()
        self._idle.clear()
