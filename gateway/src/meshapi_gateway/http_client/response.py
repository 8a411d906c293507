"""An upstream answer whose body is read whole or piece by piece as it arrives.

The connection goes back to the pool only when the body was read to its end and the
upstream keeps the connection alive; anything else (an error, a timeout, a cancelled
reader, a consumer that stops early) closes it, because its state is then unknown.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, AsyncIterator

from meshapi_gateway.http_client.connection import Connection
from meshapi_gateway.http_client.errors import TransportError
from meshapi_gateway.http_client.headers import Headers

if TYPE_CHECKING:
    from meshapi_gateway.http_client.client import HTTPClient


def _decoder(encoding: str | None) -> "zlib._Decompress | None":
    if not encoding or encoding == "identity":
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # zlib-wrapped, as RFC 9110 means by deflate
    raise TransportError(f"the upstream answered in an encoding the gateway did not ask for: {encoding}")


class Response:
    __slots__ = ("_client", "_conn", "_deadline", "_decoder", "_headers", "_raw_headers", "_read_timeout", "status")

    def __init__(self, client: "HTTPClient", conn: Connection, read_timeout: float, deadline: float | None) -> None:
        self.status = conn.status
        self._raw_headers = conn.raw_headers
        self._headers: Headers | None = None
        self._client = client
        self._conn: Connection | None = conn
        self._read_timeout = read_timeout
        self._deadline = deadline
        encoding = conn.encoding
        self._decoder = None if encoding is None else _decoder(encoding.decode("latin-1"))

    @property
    def headers(self) -> Headers:
        """Decoded when first asked for: a successful answer's headers are seldom read."""
        headers = self._headers
        if headers is None:
            headers = self._headers = Headers(self._raw_headers)
        return headers

    async def read(self) -> bytes:
        """The whole body; the connection is free again when this returns."""
        conn = self._conn
        if conn is None:
            raise TransportError("the response body was already consumed or closed")
        try:
            while not conn.complete:
                await conn.wait(self._read_timeout, self._deadline)
            data = conn.take_body() if conn.body else b""
        except BaseException:
            self.close()
            raise
        self.release()
        return self._decode(data, final=True)

    async def iter_any(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive: one piece per wake-up, holding nothing back."""
        conn = self._conn
        if conn is None:
            raise TransportError("the response body was already consumed or closed")
        try:
            while True:
                if conn.body:
                    data = self._decode(conn.take_body(), final=False)
                    if data:
                        yield data
                elif conn.complete:
                    break
                else:
                    await conn.wait(self._read_timeout, self._deadline)
            if self._decoder is not None:
                tail = self._decoder.flush()
                if tail:
                    yield tail
        finally:
            if conn.complete and not conn.body:
                self.release()
            else:
                self.close()

    async def read_some(self) -> bytes:
        """The next body bytes as they arrive, or ``b""`` once the body has ended (or was closed).

        ``iter_any`` as a plain coroutine, for a relay that reads once per upstream write: an
        async generator costs a registration with the event loop and its own frames per stream.
        The connection is released when the end is reached; on an error the caller closes.
        """
        conn = self._conn
        if conn is None:
            return b""
        while True:
            if conn.body:
                data = self._decode(conn.take_body(), final=False)
                if data:
                    return data
            elif conn.complete:
                tail = self._decoder.flush() if self._decoder is not None else b""
                self.release()
                return tail
            else:
                await conn.wait(self._read_timeout, self._deadline)

    def _decode(self, data: bytes, *, final: bool) -> bytes:
        decoder = self._decoder
        if decoder is None:
            return data
        try:
            out = decoder.decompress(data)
            return out + decoder.flush() if final else out
        except zlib.error as exc:
            raise TransportError(f"the upstream sent a body that does not decompress: {exc}") from exc

    def release(self) -> None:
        """Give the connection back for reuse if the exchange ended cleanly, else close it."""
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        if conn.complete and conn.keep_alive and not conn.closed and conn.error is None and not conn.body:
            self._client.put_back(conn)
        else:
            conn.close()

    def close(self) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            conn.close()

    async def __aenter__(self) -> "Response":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
