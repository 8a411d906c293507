"""Plain-ASGI helpers for the hot routes.

Chat completions (and other per-token routes) skip Starlette's request/response objects
and its middleware stack: on a proxy whose upstream answers in microseconds those layers
are a large share of the work. Errors still leave as the documented envelope.
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from meshapi_gateway.errors import GatewayError
from meshapi_gateway.request_context import request_id_of

JSON_HEADERS = [(b"content-type", b"application/json")]


def header(scope: Scope, name: bytes) -> str | None:
    """One request header (``name`` lower-case), decoded as latin-1 like Starlette does."""
    for key, value in scope["headers"]:
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    for name, declared in scope["headers"]:
        if name == b"content-length":
            if declared.isdigit() and int(declared) > limit:
                raise GatewayError("payload_too_large", f"Request body is larger than {limit} bytes.")
            break
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise GatewayError("invalid_request", "Client disconnected while sending the body.", status=499)
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise GatewayError("payload_too_large", f"Request body is larger than {limit} bytes.")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def encode_headers(headers: dict[str, str] | None) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]


async def send_bytes(
    send: Send,
    body: bytes,
    status: int = 200,
    headers: dict[str, str] | None = None,
    content_type: list[tuple[bytes, bytes]] = JSON_HEADERS,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*content_type, (b"content-length", str(len(body)).encode()), *encode_headers(headers)],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_error(scope: Scope, send: Send, exc: GatewayError, extra_headers: dict[str, str] | None = None) -> None:
    headers = {**(extra_headers or {}), **exc.headers}
    await send_bytes(send, exc.envelope(request_id_of(scope)), exc.status, headers)
