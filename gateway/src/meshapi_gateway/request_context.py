"""Outermost ASGI layer: a request id on every response, and no error outside the envelope.

It sits outside Starlette's own error middleware so that even a crash answers with
``X-Request-Id`` and a JSON envelope (docs/wire.md, Error envelope).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meshapi_gateway import metrics
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.ids import request_id as new_request_id

log = logging.getLogger("meshapi_gateway.access")

_MAX_INCOMING_ID = 128
# Browsers must not guess another type for an answer (a JSON error echoing input rendered as HTML).
NOSNIFF = (b"x-content-type-options", b"nosniff")


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            if 0 < len(value) <= _MAX_INCOMING_ID and value.isascii():
                text: str = value.decode()
                if text.isprintable():
                    return text
            return None
    return None


def request_id_of(scope: Scope) -> str:
    state: dict[str, Any] = scope.setdefault("state", {})
    rid = state.get("request_id")
    if rid is None:
        rid = state["request_id"] = new_request_id()
    return str(rid)


# A fast route: ``async def handler(state, scope, receive, send)``.
FastHandler = Callable[[Any, Scope, Receive, Send], Awaitable[None]]


class RequestContext:
    """``fast_routes`` maps (method, exact path) to plain handlers that bypass Starlette."""

    def __init__(self, app: ASGIApp, access_log: bool = False,
                 fast_routes: dict[tuple[str, str], FastHandler] | None = None) -> None:
        self.app = app
        self.access_log = access_log
        self.fast_routes = fast_routes or {}
        self._metric_children: dict[tuple[str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope) or new_request_id()
        scope.setdefault("state", {})["request_id"] = rid
        rid_header = (b"x-request-id", rid.encode())
        started = False
        status = 500
        t0 = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header, NOSNIFF]
            await send(message)

        fast = self.fast_routes.get((scope["method"], scope["path"]))
        try:
            if fast is not None:
                await fast(self.app.state.gw, scope, receive, send_with_id)  # type: ignore[attr-defined]
            else:
                await self.app(scope, receive, send_with_id)
        except Exception:
            if not started:
                log.exception("unhandled error", extra={"request_id": rid})
                body = GatewayError("internal_error", "Internal server error.").envelope(rid)
                await send({"type": "http.response.start", "status": 500,
                            "headers": [(b"content-type", b"application/json"), rid_header, NOSNIFF,
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
            else:
                log.exception("error after the response started", extra={"request_id": rid})
        finally:
            path = scope["path"] if fast is not None else getattr(scope.get("route"), "path", "unmatched")
            children = self._metric_children.get((path, status))
            if children is None:
                # labels() is a locked dict lookup with string building; do it once per (route, status).
                children = (metrics.REQUESTS.labels(path, str(status)), metrics.LATENCY.labels(path))
                if len(self._metric_children) < 1000:
                    self._metric_children[(path, status)] = children
            children[0].inc()
            children[1].observe(time.perf_counter() - t0)
            if self.access_log:
                log.info("%s %s %s %.1fms", scope["method"], scope["path"], status,
                         (time.perf_counter() - t0) * 1000, extra={"request_id": rid})
