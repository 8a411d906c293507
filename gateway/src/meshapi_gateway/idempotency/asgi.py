"""The ``Idempotency-Key`` layer in front of POST handlers (the fast routes and Starlette's).

Requests without the header pass straight through: one scan of the header list, no
database. With it: resolve the owner, fingerprint method + path + body, then either
replay the remembered answer (``Idempotent-Replayed: true``, nothing runs, nothing is
billed) or run the handler while recording what it sends.
"""

from __future__ import annotations

import hashlib
from typing import Any, Awaitable, Callable, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meshapi_gateway.api.raw import header, read_body, send_error
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.auth.principal import replay_scope
from meshapi_gateway.calls import report_replay
from meshapi_gateway.errors import GatewayError, validation_error
from meshapi_gateway.idempotency.service import MAX_KEY_LENGTH, IdempotencyService, key_hash
from meshapi_gateway.idempotency.store import StoredResponse
from meshapi_gateway.reliability import metrics as rmetrics
from meshapi_gateway.request_context import request_id_of

HEADER = b"idempotency-key"
# Answers that carry a secret shown once (a new API key) are never stored, so these
# routes run without idempotency rather than keep the secret in the database.
SECRET_ANSWER_PATHS = ("/v1/keys",)
REPLAYED = (b"idempotent-replayed", b"true")
Downstream = Callable[[Scope, Receive, Send], Awaitable[None]]


def idempotency_key(scope: Scope) -> bytes | None:
    if scope["method"] != "POST" or scope["path"].startswith(SECRET_ANSWER_PATHS):
        return None
    for name, value in scope["headers"]:
        if name == HEADER:
            return bytes(value)
    return None


class _Recorder:
    """Passes the response through while keeping a copy (up to ``limit`` bytes)."""

    __slots__ = ("complete", "headers", "limit", "parts", "send", "size", "status")

    def __init__(self, send: Send, limit: int) -> None:
        self.send = send
        self.limit = limit
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.parts: list[bytes] | None = []
        self.size = 0
        self.complete = False

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", ()))
        elif kind == "http.response.body":
            body = message.get("body", b"")
            if body and self.parts is not None:
                self.size += len(body)
                if self.size > self.limit:
                    self.parts = None  # too big to remember: the key is released instead
                else:
                    self.parts.append(bytes(body))
            if not message.get("more_body", False):
                self.complete = True
        await self.send(message)

    def stored(self) -> StoredResponse | None:
        if not self.complete or self.parts is None or not 200 <= self.status < 300:
            return None
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.headers if k != b"x-request-id"]
        return StoredResponse(self.status, headers, b"".join(self.parts))


async def _replay(send: Send, stored: StoredResponse) -> None:
    rmetrics.IDEMPOTENT_REPLAYS.inc()
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in stored.headers]
    await send({"type": "http.response.start", "status": stored.status, "headers": [*headers, REPLAYED]})
    await send({"type": "http.response.body", "body": stored.body})


async def run_idempotent(
    state: Any, scope: Scope, receive: Receive, send: Send, downstream: Downstream, raw_key: bytes
) -> None:
    service: IdempotencyService | None = state.idempotency
    declared = header(scope, b"content-length")
    too_big = declared is not None and declared.isdigit() and int(declared) > state.settings.max_body_bytes
    if service is None or too_big:  # large uploads are not buffered for a fingerprint
        await downstream(scope, receive, send)
        return
    try:
        key = raw_key.decode("latin-1").strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            raise validation_error(
                [
                    {
                        "type": "value_error",
                        "loc": ["header", "Idempotency-Key"],
                        "msg": f"must be 1 to {MAX_KEY_LENGTH} characters",
                    }
                ]
            )
        try:
            principal = await authenticate(state, header(scope, b"authorization"), "any")
        except GatewayError:
            await downstream(scope, receive, send)  # the route gives its own 401/403
            return
        body = await read_body(scope, receive, state.settings.max_body_bytes)
        digest = hashlib.sha256(scope["method"].encode())
        digest.update(scope["path"].encode())
        digest.update(b"?" + scope.get("query_string", b""))
        digest.update(b"\n" + body)
        owner, hashed = replay_scope(principal), key_hash(key)
        stored = await service.begin(owner, hashed, digest.hexdigest())
    except GatewayError as exc:
        await send_error(scope, send, exc)
        return
    if stored is not None:
        await _replay(send, stored)
        report_replay(state, scope["path"], principal, request_id_of(scope), stored.status)
        return
    body_sent = False

    async def replay_body() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    recorder = _Recorder(send, service.max_body_bytes)
    try:
        await downstream(scope, replay_body, recorder)
    finally:
        await service.finish(owner, hashed, recorder.stored())


class KeyedHandler(Protocol):
    """A fast route that finds the ``Idempotency-Key`` in its own pass over the headers."""

    def __call__(
        self, state: Any, scope: Scope, receive: Receive, send: Send, *, idempotent: bool = ...
    ) -> Awaitable[None]: ...


async def run_keyed(
    handler: KeyedHandler, state: Any, scope: Scope, receive: Receive, send: Send, raw_key: bytes
) -> None:
    """Run ``handler`` under the idempotency layer (it found ``raw_key`` itself); it runs again without it."""

    async def downstream(s: Scope, r: Receive, se: Send) -> None:
        await handler(state, s, r, se, idempotent=False)

    await run_idempotent(state, scope, receive, send, downstream, raw_key)


def with_idempotency(
    handler: Callable[[Any, Scope, Receive, Send], Awaitable[None]],
) -> Callable[[Any, Scope, Receive, Send], Awaitable[None]]:
    """Wrap a fast route (``handler(state, scope, receive, send)``)."""

    async def idempotent_handler(state: Any, scope: Scope, receive: Receive, send: Send) -> None:
        # ``idempotency_key`` spelled out: fast routes are the busiest, and none answers a secret.
        raw_key = None
        if scope["method"] == "POST":
            for name, value in scope["headers"]:
                if name == HEADER:
                    raw_key = bytes(value)
                    break
        if raw_key is None:
            await handler(state, scope, receive, send)
            return

        async def downstream(s: Scope, r: Receive, se: Send) -> None:
            await handler(state, s, r, se)

        await run_idempotent(state, scope, receive, send, downstream, raw_key)

    return idempotent_handler


class IdempotencyMiddleware:
    """The same layer for the routes Starlette serves."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_key = idempotency_key(scope) if scope["type"] == "http" else None
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        await run_idempotent(scope["app"].state.gw, scope, receive, send, self.app, raw_key)
