"""One ``/v1/messages`` call after authentication: choose the path, run it, shape the answer.

A model Anthropic serves takes the native path (``passthrough``); every other model takes
the chat pipeline with the translated request, exactly as ``/v1/chat/completions`` would
(limits, balance, fallbacks, billing), and its answer or stream is translated back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable

from meshapi_gateway.anthropic_inbound import passthrough
from meshapi_gateway.anthropic_inbound.errors import error_type
from meshapi_gateway.anthropic_inbound.fit import fit_max_tokens
from meshapi_gateway.anthropic_inbound.keepalive import with_pings
from meshapi_gateway.anthropic_inbound.models import resolve_model
from meshapi_gateway.anthropic_inbound.request import check_common, invalid, to_chat
from meshapi_gateway.anthropic_inbound.response import message_id, to_message
from meshapi_gateway.anthropic_inbound.stream import PING, MessageStream, error_event, event
from meshapi_gateway.calls import answer_headers
from meshapi_gateway.errors import GatewayError, mid_stream_code
from meshapi_gateway.providers.base import UpstreamError
from meshapi_gateway.routing import auto_select
from meshapi_gateway.routing.auto import is_auto

if TYPE_CHECKING:
    from meshapi_gateway.auth.principal import Principal
    from meshapi_gateway.calls import Call
    from meshapi_gateway.catalog import ModelEntry
    from meshapi_gateway.state import GatewayState

ENDPOINT = passthrough.ENDPOINT


@dataclass(slots=True)
class Plan:
    """What a request resolved to: the catalog model, and either native candidates or the chat request."""

    model_id: str
    native: list["ModelEntry"] | None = None
    chat: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    # The context window (not the client's max_tokens) bounds the answer: its ``length`` end is
    # ``model_context_window_exceeded``.
    window_limited: bool = False
    prompt_tokens: int | None = None  # counted before the call (the local model), else known only at the end


@dataclass(slots=True)
class Answer:
    """A JSON answer, or SSE frames (with what to run when the response is over)."""

    headers: dict[str, str]
    message: dict[str, Any] | None = None
    frames: AsyncIterator[bytes] | None = None
    close: Callable[[], Awaitable[None]] | None = None


def resolve_entry(state: "GatewayState", body: dict[str, Any]) -> "ModelEntry | None":
    """The catalog entry the request's model name stands for (None for ``auto``)."""
    model_id = resolve_model(check_common(body), state.settings.anthropic.model_map, state.catalog)
    if is_auto(model_id):
        return None
    return state.router.resolve(model_id)


def _auto_choice(state: "GatewayState", principal: "Principal", body: dict[str, Any]) -> str:
    """The concrete model ``auto`` stands for, chosen on what the request needs as chat would choose.

    ``thinking`` is asked for, not required: it does not narrow the choice, and the chosen model
    reasons when it can (otherwise the answer says that thinking was ignored).
    """
    chat, _ = to_chat(body, "auto")
    return str(auto_select.resolve(state, principal, chat)["model"])


async def plan(state: "GatewayState", principal: "Principal", body: dict[str, Any], request_id: str) -> Plan:
    model_id = resolve_model(check_common(body), state.settings.anthropic.model_map, state.catalog)
    if is_auto(model_id):
        # Chosen first, so a model Anthropic serves still takes the native path.
        model_id = _auto_choice(state, principal, body)
    entries = state.router.candidates(model_id)
    native = passthrough.native_candidates(entries)
    if native is not None:
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise invalid("max_tokens", "Field required (an integer of at least 1)")
        return Plan(model_id, native=native)
    can_reason = bool(entries) and entries[0].supports_thinking
    chat, notes = to_chat(body, model_id, can_reason=can_reason)
    entry = state.catalog.get(model_id)
    window_limited, prompt = (
        await fit_max_tokens(state, entry, chat, request_id) if entry is not None else (False, None)
    )
    return Plan(model_id, chat=chat, notes=notes, window_limited=window_limited, prompt_tokens=prompt)


def _headers(target: Any, attempted: Any, notes: list[str], extra: dict[str, str] | None = None) -> dict[str, str]:
    headers = answer_headers(target, attempted)
    headers.update(extra or {})
    if notes:
        warning = "; ".join(notes)
        headers["x-meshapi-warning"] = (
            f"{headers['x-meshapi-warning']}; {warning}" if headers.get("x-meshapi-warning") else warning
        )
    return headers


def _failure(exc: UpstreamError) -> tuple[str, str]:
    kind, _ = error_type(
        GatewayError(mid_stream_code(exc), exc.message, status=exc.status, provider_error=exc.provider_error)
    )
    return kind, exc.message


async def create(call: "Call", body: dict[str, Any], the_plan: Plan, beta: str | None) -> Answer:
    """A whole (non-streamed) answer."""
    if the_plan.native is not None:
        native = await passthrough.create(call, the_plan.native, body, beta)
        return Answer(_headers(native.target, native.attempted, the_plan.notes), message=native.message)
    pipeline = call.state.chat
    assert the_plan.chat is not None
    outcome = await pipeline.complete(call, the_plan.chat)
    extra = outcome.ctx.response_headers if outcome.ctx is not None else None
    return Answer(
        _headers(outcome.target, outcome.attempted, the_plan.notes, extra),
        message=to_message(outcome.response, outcome.target.entry.id, the_plan.window_limited),
    )


async def open_stream(call: "Call", body: dict[str, Any], the_plan: Plan, beta: str | None) -> Answer:
    """A stream, opened (with fallbacks) before anything is sent; ``close`` bills it and finishes the call."""
    request_id = call.request_id
    if the_plan.native is not None:
        opened = await passthrough.open_stream(call, the_plan.native, body, beta)
        return Answer(
            _headers(opened.target, opened.attempted, the_plan.notes),
            frames=_native_frames(opened, request_id),
            close=opened.close,
        )
    pipeline = call.state.chat
    assert the_plan.chat is not None
    stream = await pipeline.stream(call, the_plan.chat)
    extra = stream.ctx.response_headers if stream.ctx is not None else None
    # The count is the first candidate's; another model answering after a fallback reports its own at the end.
    counted = the_plan.prompt_tokens if stream.target.entry.id == the_plan.model_id else None
    translator = MessageStream(message_id(), stream.target.entry.id, the_plan.window_limited, counted)

    async def frames() -> AsyncIterator[bytes]:
        yield translator.start()
        try:
            async for chunk in stream.chunks:
                out = translator.feed(chunk)
                if out:
                    yield out
        finally:
            await stream.aclose()
        if stream.error is not None:
            kind, message = _failure(stream.error)
            yield translator.fail(kind, message, request_id)
        else:
            yield translator.finish(stream.normalizer.usage)

    pinged = with_pings(frames(), call.state.settings.anthropic.ping_seconds, PING, stream.read_in)
    return Answer(_headers(stream.target, stream.attempted, the_plan.notes, extra), frames=pinged, close=stream.aclose)


async def _native_frames(opened: passthrough.NativeStream, request_id: str) -> AsyncIterator[bytes]:
    try:
        async for data in opened.events:
            opened.observe(data)
            yield event(str(data.get("type") or "message"), data)
    except UpstreamError as exc:
        opened.error = exc
        kind, message = _failure(exc)
        yield error_event(kind, message, request_id)
