"""The upstream HTTP client against real sockets: reuse, streaming, timeouts and broken upstreams.

Each test runs a small asyncio TCP server that writes exactly the bytes a misbehaving
(or well-behaved) upstream would, so what the client does with them is what a provider
adapter gets in production.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
from typing import Any, Awaitable, Callable

import pytest
from meshapi_gateway.http_client import HTTPClient, TransportError, UpstreamTimeout

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]

JSON_OK = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'


class RawServer:
    """Counts connections and requests; ``handler`` writes the answer for each request."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.AbstractServer | None = None
        self.url = ""

    async def __aenter__(self) -> "RawServer":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                await self.handler(reader, writer, len(self.requests))
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
    writer.write(JSON_OK)
    await writer.drain()


async def test_keep_alive_connection_is_reused_and_request_is_well_formed() -> None:
    client = HTTPClient()
    async with RawServer(answer_ok) as server:
        for _ in range(3):
            resp = await client.post(
                server.url + "/v1/chat/completions?x=1",
                b'{"a":1}',
                {"authorization": "Bearer k"},
                connect_timeout=5,
                read_timeout=5,
            )
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/json"
            assert await resp.read() == b'{"ok":true}'
        assert server.connections == 1
        first = server.requests[0]
        assert first.startswith(b"POST /v1/chat/completions?x=1 HTTP/1.1\r\n")
        assert b"\r\ncontent-length: 7\r\n" in first and first.endswith(b'\r\n\r\n{"a":1}')
        assert b"\r\nauthorization: Bearer k\r\n" in first and b"\r\nhost: 127.0.0.1:" in first
    await client.aclose()


async def test_an_idle_connection_the_upstream_closed_is_not_reused() -> None:
    async def answer_then_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(JSON_OK)  # says nothing of closing, then closes: the next request meets a dead socket
        await writer.drain()
        writer.close()

    client = HTTPClient()
    async with RawServer(answer_then_hang_up) as server:
        for _ in range(3):
            resp = await client.post(server.url + "/x", b"{}", {}, connect_timeout=5, read_timeout=5)
            assert await resp.read() == b'{"ok":true}'
            await asyncio.sleep(0.05)  # let the close arrive while the connection sits idle
        assert server.connections == 3
    await client.aclose()


async def test_a_stream_is_relayed_piece_by_piece_as_it_arrives() -> None:
    release_second = asyncio.Event()

    async def two_chunks(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n7\r\ndata: 1\r\n"
        )
        await writer.drain()
        await release_second.wait()  # the second piece exists only after the client has seen the first
        writer.write(b"7\r\ndata: 2\r\n0\r\n\r\n")
        await writer.drain()

    client = HTTPClient()
    async with RawServer(two_chunks) as server:
        resp = await client.post(server.url + "/s", b"{}", {}, connect_timeout=5, read_timeout=5)
        seen = []
        async for piece in resp.iter_any():
            seen.append(piece)
            release_second.set()
        assert seen == [b"data: 1", b"data: 2"]
        again = await client.post(server.url + "/s", b"{}", {}, connect_timeout=5, read_timeout=5)
        again.close()
        assert server.connections == 1  # a stream read to its end leaves the connection reusable
    await client.aclose()


async def test_a_stalled_upstream_times_out_and_its_connection_is_not_reused() -> None:
    async def head_then_stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n == 1:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
            await writer.drain()
            await asyncio.sleep(5)
        else:
            writer.write(JSON_OK)

    client = HTTPClient()
    async with RawServer(head_then_stall) as server:
        resp = await client.post(server.url + "/x", b"{}", {}, connect_timeout=5, read_timeout=0.2)
        with pytest.raises(UpstreamTimeout) as caught:
            await resp.read()
        assert caught.value.phase == "read" and isinstance(caught.value, TimeoutError)
        resp = await client.post(server.url + "/x", b"{}", {}, connect_timeout=5, read_timeout=5)
        assert await resp.read() == b'{"ok":true}'
        assert server.connections == 2
    await client.aclose()


async def test_each_exchange_on_a_kept_alive_connection_gets_its_own_read_timeout() -> None:
    # A connection keeps one timer across its exchanges: a shorter timeout after a longer one must
    # still fire on time, and a longer one after a shorter one must not fire at the old time.
    async def slow_third(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n == 3:
            await asyncio.sleep(0.5)  # longer than the first exchange's timeout, shorter than its own
        if n == 4:
            await asyncio.sleep(5)
        writer.write(JSON_OK)
        await writer.drain()

    client = HTTPClient()
    loop = asyncio.get_running_loop()
    async with RawServer(slow_third) as server:
        for read_timeout in (0.3, 5.0, 1.5):
            resp = await client.post(server.url + "/x", b"{}", {}, connect_timeout=5, read_timeout=read_timeout)
            assert await resp.read() == b'{"ok":true}'
        assert server.connections == 1
        began = loop.time()
        with pytest.raises(UpstreamTimeout) as caught:
            await client.post(server.url + "/x", b"{}", {}, connect_timeout=5, read_timeout=0.2)
        assert caught.value.phase == "read" and caught.value.seconds == 0.2
        assert 0.15 < loop.time() - began < 2
    await client.aclose()


async def test_total_timeout_bounds_a_body_that_keeps_trickling() -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(50):
            writer.write(b"1\r\nx\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)

    client = HTTPClient()
    async with RawServer(trickle) as server:
        resp = await client.post(server.url + "/x", b"{}", {}, connect_timeout=5, read_timeout=1, total_timeout=0.4)
        with pytest.raises(UpstreamTimeout) as caught:
            await resp.read()
        assert caught.value.phase == "total"
    await client.aclose()


async def _read_raw_answer(raw: bytes, *, hang_up: bool = False) -> bytes:
    """What ``read()`` makes of an upstream that writes ``raw`` (and then hangs up, if asked)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(raw)
        await writer.drain()
        if hang_up:
            writer.close()

    client = HTTPClient()
    try:
        async with RawServer(answer) as server:
            resp = await client.post(server.url + "/x", b"{}", {}, connect_timeout=5, read_timeout=5)
            return await resp.read()
    finally:
        await client.aclose()


async def test_an_upstream_that_hangs_up_mid_body_is_a_transport_error() -> None:
    with pytest.raises(TransportError, match="closed the connection"):
        await _read_raw_answer(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part", hang_up=True)


async def test_a_body_that_ends_with_the_connection_is_read_whole() -> None:
    raw = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end"
    assert await _read_raw_answer(raw, hang_up=True) == b"until the end"


async def test_gzip_answers_are_decompressed() -> None:
    packed = gzip.compress(b'{"compressed":true}')
    raw = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n%s" % (len(packed), packed)
    assert await _read_raw_answer(raw) == b'{"compressed":true}'


async def test_an_error_status_and_its_body_reach_the_caller() -> None:
    async def rate_limited(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        body = b'{"error":{"message":"slow down"}}'
        writer.write(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()

    client = HTTPClient()
    async with RawServer(rate_limited) as server:
        resp = await client.post(server.url + "/x", b"{}", {}, connect_timeout=5, read_timeout=5)
        assert resp.status == 429 and resp.headers.get("retry-after") == "3"
        assert b"slow down" in await resp.read()
    await client.aclose()


async def test_refused_connection_and_header_injection_are_refused_clearly() -> None:
    client = HTTPClient()
    with pytest.raises(TransportError, match="cannot connect"):
        await client.post("http://127.0.0.1:9/x", b"{}", {}, connect_timeout=2, read_timeout=2)
    with pytest.raises(TransportError, match="line break"):
        await client.post(
            "http://127.0.0.1:9/x", b"{}", {"x-evil": "a\r\nhost: other"}, connect_timeout=2, read_timeout=2
        )
    with pytest.raises(TransportError, match="not an http"):
        await client.post("ftp://example/x", b"{}", {}, connect_timeout=2, read_timeout=2)
    await client.aclose()


async def test_a_stream_left_early_closes_its_connection() -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        try:
            while True:
                writer.write(b"2\r\nhi\r\n")
                await writer.drain()
                await asyncio.sleep(0.01)
        except ConnectionError:
            writer.close()

    client = HTTPClient()
    async with RawServer(endless) as server:
        resp = await client.post(server.url + "/x", b"{}", {}, connect_timeout=5, read_timeout=5)
        pieces = resp.iter_any()
        assert await pieces.__anext__() == b"hi"
        await pieces.aclose()  # the consumer stops: the rest of the body is never read
        assert client.idle_connections() == 0
    await client.aclose()


def _self_signed(tmp_path: Any) -> tuple[str, str]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


async def test_https_upstreams_are_verified_and_reused(tmp_path: Any) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server = RawServer(answer_ok)
    server.server = await asyncio.start_server(server._serve, "127.0.0.1", 0, ssl=server_ctx)
    port = server.server.sockets[0].getsockname()[1]
    url = f"https://localhost:{port}/v1/chat/completions"

    trusting = HTTPClient(ssl_context=ssl.create_default_context(cafile=cert))
    for _ in range(2):
        resp = await trusting.post(url, b"{}", {}, connect_timeout=5, read_timeout=5)
        assert await resp.read() == b'{"ok":true}'
    assert server.connections == 1
    await trusting.aclose()

    default = HTTPClient()  # the system's trust store does not know this certificate
    with pytest.raises(TransportError, match="cannot connect"):
        await default.post(url, b"{}", {}, connect_timeout=5, read_timeout=5)
    await default.aclose()
    server.server.close()


async def test_an_encoding_that_was_not_asked_for_is_a_clear_error() -> None:
    with pytest.raises(TransportError, match="encoding the gateway did not ask for: br"):
        await _read_raw_answer(b"HTTP/1.1 200 OK\r\ncontent-encoding: br\r\ncontent-length: 2\r\n\r\nxx")
