"""Outermost ASGI layer: a request id on every response, and no error outside the envelope.

It sits outside Starlette's own error middleware so that even a crash answers with
``X-Request-Id`` and a JSON envelope (docs/wire.md, Error envelope).
"""

from __future__ import annotations

import logging
import time
from types import MethodType
from typing import Any, Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meshapi_gateway import metrics
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.ids import Counted
from meshapi_gateway.ids import request_id as new_request_id
from meshapi_gateway.observability.access_log import json_line
from meshapi_gateway.observability.capture import BodyCapture
from meshapi_gateway.observability.record import DATA_PLANE_PATHS, RequestRecord
from meshapi_gateway.observability.record import current as current_record
from meshapi_gateway.observability.trace_context import TraceContext
from meshapi_gateway.one_write import DIRECT_WRITE, OneWriteCycle

log = logging.getLogger("meshapi_gateway.access")

_MAX_INCOMING_ID = 128
# Browsers must not guess another type for an answer (a JSON error echoing input rendered as HTML).
NOSNIFF = (b"x-content-type-options", b"nosniff")


def request_id_of(scope: Scope) -> str:
    state: dict[str, Any] = scope.setdefault("state", {})
    rid = state.get("request_id")
    if rid is None:
        rid = state["request_id"] = new_request_id()
    return str(rid)


# A fast route: ``async def handler(state, scope, receive, send)``.
FastHandler = Callable[[Any, Scope, Receive, Send], Awaitable[None]]
# Told of every finished data-plane request (the request log, traces); must not block.
RecordObserver = Callable[[RequestRecord], None]
_MAX_USER_AGENT = 256
_MAX_METRIC_KEYS = 10_000


class RequestContext:
    """``fast_routes`` maps (method, exact path) to plain handlers that bypass Starlette."""

    def __init__(
        self,
        app: ASGIApp,
        access_log: bool = False,
        fast_routes: dict[tuple[str, str], FastHandler] | None = None,
        access_log_json: bool = False,
        observers: list[RecordObserver] | None = None,
        capture_bytes: int = 0,
        tracing: bool = False,
    ) -> None:
        self.app = app
        self.tracing = tracing
        # > 0: keep up to this many raw bytes of each data-plane body for the request log.
        self.capture_bytes = capture_bytes
        self.access_log = access_log
        self.access_log_json = access_log_json
        self.fast_routes = fast_routes or {}
        # Filled at start-up by the features that want finished records (shared list, appended to later).
        self.observers: list[RecordObserver] = observers if observers is not None else []
        # By (route, status, answering model; None outside the data plane).
        self._metric_updates: dict[tuple[str, int, str | None], metrics.Finish] = {}
        # ``req_<ULID>`` as counted runs (70 random bits drawn once per 1,024 ids, ``ids.Counted``): one a
        # request, ≈ 4.5 k instructions less than eight draws (``ulid``). One app is served by one thread.
        self._request_ids = Counted("req_")
        # The gateway's state as the lifespan set it (``app.state.gw``), read once: Starlette's ``State``
        # answers a read through ``__getattr__`` after a failed lookup and its ``AttributeError`` (≈ 0.75 µs).
        self._gw: Any = None

    def _lifespan_send(self, send: Send) -> Send:
        """The lifespan's ``send``: a (re)started lifespan has made a new state, read again by the next request."""

        async def forget_state(message: Message) -> None:
            self._gw = None
            await send(message)

        return forget_state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.app(scope, receive, self._lifespan_send(send))
                return
            await self.app(scope, receive, send)
            return
        # One pass over the headers for everything this layer reads (it runs for every request).
        rid: str | None = None
        id_seen = False
        user_agent = traceparent = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if not id_seen:  # the first one counts; an unusable one is replaced by our own
                    id_seen = True
                    if (
                        0 < len(value) <= _MAX_INCOMING_ID
                        and value.isascii()
                        and (text := value.decode()).isprintable()
                    ):
                        rid = text
            elif name == b"user-agent":
                user_agent = value
            elif name == b"traceparent":
                traceparent = value
        if rid is None:
            rid = self._request_ids()
        scope.setdefault("state", {})["request_id"] = rid
        rid_header = (b"x-request-id", rid.encode())
        started = False
        status = 500
        t0 = time.perf_counter()
        rec: RequestRecord | None = None
        if scope["path"] in DATA_PLANE_PATHS:
            client = scope.get("client")
            rec = RequestRecord(  # by position, in the record's order (see RequestRecord)
                rid,
                scope["path"],
                scope["method"],
                client[0] if client else None,
                user_agent[:_MAX_USER_AGENT].decode("latin-1") if user_agent is not None else None,
            )
            if self.tracing:
                rec.trace = TraceContext.start(traceparent)
        token = current_record.set(rec) if rec is not None else None
        capture = BodyCapture(rec, self.capture_bytes) if rec is not None and self.capture_bytes else None
        if capture is not None:
            receive = capture.receive(receive)

        async def send_with_id(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header, NOSNIFF]
            if capture is not None:
                capture.sent(message)
            await send(message)

        offered = False
        if capture is None and type(send) is MethodType:
            # uvicorn's cycle under us, and no layer here to see the body: a stream's chunks may skip the
            # chain above (``one_write.py``); offered with ``send_with_id``, so a layer wrapping it withholds it.
            cycle = getattr(send, "__self__", None)
            if isinstance(cycle, OneWriteCycle):
                scope[DIRECT_WRITE] = (send_with_id, cycle.write_chunk)
                offered = True
        fast = self.fast_routes.get((scope["method"], scope["path"]))
        try:
            if fast is not None:
                gw = self._gw
                if gw is None:
                    gw = self._gw = self.app.state.gw  # type: ignore[attr-defined]
                await fast(gw, scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        except Exception:
            if not started:
                log.exception("unhandled error", extra={"request_id": rid})
                body = GatewayError("internal_error", "Internal server error.").envelope(rid)
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            rid_header,
                            NOSNIFF,
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
            else:
                log.exception("error after the response started", extra={"request_id": rid})
        finally:
            if offered:
                del scope[DIRECT_WRITE]  # it holds the cycle, which holds the scope: no loop left to the collector
            path = scope["path"] if fast is not None else getattr(scope.get("route"), "path", "unmatched")
            duration = time.perf_counter() - t0
            model: str | None = None
            ttft: float | None = None
            if rec is not None:
                assert token is not None
                current_record.reset(token)
                rec.status = status
                rec.duration = duration
                if capture is not None:
                    capture.finish()
                calls = rec.calls
                if len(calls) == 1:
                    # The common record: its one call's figures, as rec.model and rec.time_to_first_token
                    # read them, without their loops over the calls (two Python calls a request).
                    only = calls[0]
                    model, ttft = only.model or "-", only.time_to_first_token
                else:
                    model, ttft = rec.model or "-", rec.time_to_first_token
            key = (path, status, model)
            update = self._metric_updates.get(key)
            if update is None:
                # labels() is a locked dict lookup with string building; done once per (route, status, model).
                update = metrics.request_updates(path, status, model)
                if len(self._metric_updates) < _MAX_METRIC_KEYS:
                    self._metric_updates[key] = update
            with metrics.LOCK:  # every update of these metrics is made holding it (metrics.py)
                update(duration, ttft)
            if rec is not None:
                for observer in self.observers:
                    try:
                        observer(rec)
                    except Exception:  # an observer's fault must not turn into the request's
                        log.exception("request observer failed", extra={"request_id": rid})
            if self.access_log:
                if self.access_log_json:
                    log.info(json_line(scope["method"], scope["path"], status, duration, rid, rec))
                else:
                    log.info(
                        "%s %s %s %.1fms",
                        scope["method"],
                        scope["path"],
                        status,
                        duration * 1000,
                        extra={"request_id": rid},
                    )
