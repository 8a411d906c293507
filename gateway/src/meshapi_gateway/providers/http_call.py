"""One upstream HTTP exchange for the adapters: headers, post JSON, map failures, read SSE.

Failures come out as ``UpstreamError`` with the router's meaning of ``retryable``; the
error body is read whole (it is small) so ``provider_error`` carries what the provider said.
"""

from __future__ import annotations

from typing import Any, AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, TypeVar

import orjson

from meshapi_gateway.errors import before_first_chunk
from meshapi_gateway.http_client import ConnectTimeout, Response, TransportError
from meshapi_gateway.observability.record import current as current_record
from meshapi_gateway.providers import upstream_errors, upstream_head
from meshapi_gateway.providers.base import CallContext, Target, UpstreamError
from meshapi_gateway.sse import SSEEvent, parse_sse

ErrorMapper = Callable[[int, bytes, Mapping[str, str]], UpstreamError]
Head = TypeVar("Head")


def upstream_headers(
    target: Target, ctx: CallContext, key_header: str, *, key_prefix: str = "", fixed: Mapping[str, str] | None = None
) -> dict[str, str]:
    """JSON request headers with the deployment's key under ``key_header``.

    The catalog entry's and then the deployment's own headers come last, so an operator
    can override anything the adapter sets.
    """
    headers = {"content-type": "application/json", **(fixed or {}), "x-request-id": ctx.request_id}
    rec = current_record.get()  # ``trace_header()``, spelled out: this runs for every upstream call
    if rec is not None and rec.trace is not None:
        headers["traceparent"] = rec.trace.child_header()  # the upstream's spans join the request's trace
    if target.api_key:
        headers[key_header] = key_prefix + target.api_key
    headers.update(target.entry_headers)  # the catalog's dicts, as the made head (``upstream_head``) reads them
    headers.update(target.deployment_headers)
    return headers


async def raise_for_status(resp: Response, on_error: ErrorMapper) -> None:
    """An HTTP error answer becomes ``on_error``'s ``UpstreamError`` (with the body) and frees the connection."""
    if resp.status < 400:
        return
    try:
        raw = await resp.read()
    except TransportError:
        raw = b""
    finally:
        resp.release()
    raise on_error(resp.status, raw, resp.headers)


async def post_json(
    ctx: CallContext,
    url: str,
    payload: dict[str, Any],
    headers: dict[str, str],
    provider: str,
    on_error: ErrorMapper,
    *,
    stream: bool,
) -> Response:
    try:
        resp = await ctx.session.post(
            url,
            orjson.dumps(payload),
            headers,
            connect_timeout=ctx.connect_timeout,
            read_timeout=ctx.read_timeout,
            total_timeout=None if stream else ctx.read_timeout,
        )
    except TimeoutError as exc:
        raise upstream_errors.timed_out(provider, "connect" if isinstance(exc, ConnectTimeout) else "answer") from exc
    except TransportError as exc:
        raise upstream_errors.connection_failed(provider, exc) from exc
    await raise_for_status(resp, on_error)
    return resp


def send_post(
    ctx: CallContext,
    url: str,
    body: bytes,
    target: Target,
    key_header: str,
    key_prefix: str,
    fixed: Mapping[str, str],
    *,
    total: float | None,
) -> Awaitable[Response]:
    """A POST with ``upstream_headers(target, ctx, key_header, key_prefix=…, fixed=…)``: its bytes from the
    target's head made once (``upstream_head``), or through the client's formatting when the call needs it."""
    head = upstream_head.head_for(url, target, key_header, key_prefix, fixed)
    raw = upstream_head.bytes_for(head, ctx.request_id, body)
    if raw is not None:
        return ctx.session.send(
            head.origin, raw, connect_timeout=ctx.connect_timeout, read_timeout=ctx.read_timeout, total_timeout=total
        )
    return ctx.session.request(
        "POST",
        url,
        body,
        upstream_headers(target, ctx, key_header, key_prefix=key_prefix, fixed=fixed),
        connect_timeout=ctx.connect_timeout,
        read_timeout=ctx.read_timeout,
        total_timeout=total,
    )


async def post_json_made(
    ctx: CallContext,
    url: str,
    payload: dict[str, Any],
    target: Target,
    key_header: str,
    fixed: Mapping[str, str],
    provider: str,
    on_error: ErrorMapper,
    *,
    stream: bool,
) -> Response:
    """``post_json`` with ``upstream_headers(target, ctx, key_header, fixed=fixed)``, its head made once."""
    try:
        resp = await send_post(
            ctx, url, orjson.dumps(payload), target, key_header, "", fixed, total=None if stream else ctx.read_timeout
        )
    except TimeoutError as exc:
        raise upstream_errors.timed_out(provider, "connect" if isinstance(exc, ConnectTimeout) else "answer") from exc
    except TransportError as exc:
        raise upstream_errors.connection_failed(provider, exc) from exc
    await raise_for_status(resp, on_error)
    return resp


async def read_json(resp: Response, provider: str, what: str = "body") -> Any:
    """The whole answer parsed as JSON; ``what`` names it in the error for one that is not JSON."""
    try:
        raw = await resp.read()
    except TimeoutError as exc:
        raise upstream_errors.timed_out(provider) from exc
    except TransportError as exc:
        raise upstream_errors.connection_failed(provider, exc) from exc
    finally:
        resp.release()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError(
            "upstream_error",
            f"{provider} sent a {what} that is not JSON",
            retryable=True,
            provider_error=raw[:500].decode("utf-8", "replace"),
        ) from exc


async def sse_events(resp: Response, provider: str) -> AsyncGenerator[SSEEvent, None]:
    """The response's SSE events; a dropped connection or a stalled upstream raises ``UpstreamError``."""
    try:
        async for event in parse_sse(resp.iter_any()):
            yield event
    except TimeoutError as exc:
        raise upstream_errors.timed_out(provider, "send the next event") from exc
    except TransportError as exc:
        raise UpstreamError("stream_interrupted", f"{provider} connection dropped mid-stream: {exc}") from exc


async def first_event(events: AsyncIterator[SSEEvent]) -> SSEEvent | None:
    """The next event, leaving ``events`` open for the rest."""
    async for event in events:
        return event
    return None


async def stream_head(
    resp: Response, provider: str, translate_first: Callable[[SSEEvent], Head]
) -> tuple[AsyncGenerator[SSEEvent, None], Head]:
    """The response's events with the first one read and translated, the rest left to read.

    Until this returns nothing has reached the client, so any failure closes the
    connection and a dropped or stalled upstream stays retryable on another deployment.
    """
    events = sse_events(resp, provider)
    try:
        first = await first_event(events)
        if first is None:
            raise UpstreamError("upstream_error", f"{provider} closed the stream before any event", retryable=True)
        head = translate_first(first)
    except BaseException as exc:  # includes the router's first-token timeout cancelling us
        await events.aclose()
        resp.close()
        if isinstance(exc, UpstreamError):
            before_first_chunk(exc)  # errors.py: the one rule
        raise
    return events, head


def event_json(event: SSEEvent, provider: str) -> Any:
    try:
        return orjson.loads(event.data)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError(
            "upstream_error", f"{provider} sent a stream event that is not JSON", provider_error=event.data[:500]
        ) from exc
