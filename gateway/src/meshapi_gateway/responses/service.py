"""Serving one Responses request: natively where the upstream has the API, else through the chat pipeline.

Both paths go through the router (fallbacks, retries, breakers) and bill through the chat
pipeline's ledger with ``kind="responses"``, so limits and billing behave exactly as on chat.
Templates work on both: the template's messages are put before the input, its model and
params fill what the request left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable

from meshapi_gateway.calls import Call, answer_headers, metering
from meshapi_gateway.catalog.catalog import ModelEntry
from meshapi_gateway.errors import GatewayError, mid_stream_code
from meshapi_gateway.money import money
from meshapi_gateway.providers.base import Target, UpstreamError
from meshapi_gateway.providers.openai_compat.responses_api import create_response, open_response_stream
from meshapi_gateway.request_schemas import fallback_models, model_and_fallbacks
from meshapi_gateway.responses import objects
from meshapi_gateway.responses.events import ResponseEvents
from meshapi_gateway.responses.request import to_chat
from meshapi_gateway.routing import auto_select
from meshapi_gateway.routing.auto import is_auto
from meshapi_gateway.sse import DONE_FRAME, frame

if TYPE_CHECKING:
    from meshapi_gateway.auth.principal import Principal
    from meshapi_gateway.chat.pipeline import ChatPipeline
    from meshapi_gateway.state import GatewayState

KIND = "responses"
_MESHAPI_FIELDS = ("template", "variables")


def is_native(entry: ModelEntry) -> bool:
    """An OpenAI-compatible upstream that declares the Responses API in the catalog."""
    providers = {d.provider or entry.provider for d in entry.all_deployments()}
    return entry.supports_responses_api and providers == {"openai_compat"}


@dataclass
class Plan:
    """What serves the request: the native body and its candidates, or the chat body."""

    native: bool
    entries: list[ModelEntry]
    body: dict[str, Any]  # what goes upstream: a Responses body (native) or a chat body
    request: dict[str, Any] = field(default_factory=dict)  # the client's Responses body, echoed in the answer


@dataclass
class Opened:
    """A stream ready to be written: its frames and the headers to send first."""

    frames: AsyncIterator[bytes]
    headers: dict[str, str]
    # Idempotent: closes the upstream and bills; also run when the frames were never iterated.
    close: Callable[[], Awaitable[None]]


class ResponsesService:
    def __init__(self, state: "GatewayState") -> None:
        self.state = state

    @property
    def pipeline(self) -> "ChatPipeline":
        return self.state.chat

    async def _template(
        self, principal: "Principal", body: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The template's messages and defaults, rendered by the chat pipeline's hooks."""
        if not body.get("template"):
            return [], {}
        probe = {k: body[k] for k in ("model", "models", "template", "variables") if body.get(k) is not None}
        probe["messages"] = []
        rendered = await self.pipeline.prepare(principal, probe)
        prefix = list(rendered.pop("messages", None) or [])
        for name in (*_MESHAPI_FIELDS, "models"):
            rendered.pop(name, None)
        return prefix, rendered

    async def plan(self, principal: "Principal", body: dict[str, Any]) -> Plan:
        prefix, defaults = await self._template(principal, body)
        model = body.get("model") or defaults.get("model")
        model, fallbacks = model_and_fallbacks(model, fallback_models(body))
        plain = {k: v for k, v in body.items() if k not in _MESHAPI_FIELDS}
        if is_auto(model):
            probe = to_chat({**plain, "model": model})
            probe["messages"] = [*prefix, *probe["messages"]]
            model = auto_select.resolve(self.state, principal, probe, api="responses")["model"]
        entries = self.state.router.candidates(model, fallbacks)
        primary = entries[0]
        if model:
            plain["model"] = model
        if is_native(primary):
            native = [e for e in entries if is_native(e)]
            return Plan(True, native, self._native_body(plain, prefix, defaults), plain)
        if not primary.supports_completions_api:
            raise GatewayError(
                "model_capability_not_supported",
                f"Model '{primary.id}' supports neither the Responses nor the Chat Completions API.",
            )
        chat = to_chat(plain)
        chat["messages"] = [*prefix, *chat["messages"]]
        for name, value in defaults.items():
            if chat.get(name) is None and name not in ("messages", "stream"):
                chat[name] = value
        echo = dict(plain)
        if echo.get("max_output_tokens") is None and chat.get("max_tokens") is not None:
            echo["max_output_tokens"] = chat["max_tokens"]
        return Plan(False, entries, chat, echo)

    @staticmethod
    def _native_body(body: dict[str, Any], prefix: list[dict[str, Any]], defaults: dict[str, Any]) -> dict[str, Any]:
        out = dict(body)
        if prefix:
            items = body["input"] if isinstance(body["input"], list) else [{"role": "user", "content": body["input"]}]
            out["input"] = [{"role": m.get("role"), "content": m.get("content")} for m in prefix] + list(items)
        renames = {"max_tokens": "max_output_tokens"}
        for name, value in defaults.items():
            target = renames.get(name, name)
            if out.get(target) is None and target in ("temperature", "top_p", "max_output_tokens", "seed", "user"):
                out[target] = value
        return out

    # -- non-streamed --------------------------------------------------------------------------------
    async def create(self, call: Call, plan: Plan) -> tuple[dict[str, Any], dict[str, str]]:
        if plan.native:
            return await self._create_native(call, plan)
        outcome = await self.pipeline.complete(call, plan.body)
        response = objects.from_completion(outcome.response, plan.request, outcome.target.entry.id)
        return response, answer_headers(outcome.target, outcome.attempted)

    async def _create_native(self, call: Call, plan: Plan) -> tuple[dict[str, Any], dict[str, str]]:
        await call.admit(plan.entries[0].id, plan.body)
        target: Target | None = None
        usage: dict[str, Any] | None = None
        cost: Decimal | None = None
        error: BaseException | None = None
        try:
            ctx = self.state.call_context(call.request_id)
            try:
                target, data = await self.state.router.first_success(
                    plan.entries,
                    call.attempted,
                    lambda p, t: create_response(p, plan.body, t, ctx),
                    ctx=ctx,
                    admit=call.candidate_admit(plan.entries),
                )
            finally:
                metering.count_upstream_errors(call.attempted)
            data["model"] = target.entry.id
            found = data.get("usage")
            usage = found if isinstance(found, dict) else None
            cost = await call.meter(
                target,
                usage,
                estimated=None if usage is not None else (0, 0),
                tokens=int((usage or {}).get("total_tokens") or 0),
            )
            data["cost"] = money(cost)
            return data, answer_headers(target, call.attempted)
        except BaseException as exc:
            error = exc
            raise
        finally:
            call.finish(target=target, usage=usage, cost=cost, error=error)

    # -- streamed ------------------------------------------------------------------------------------
    async def stream(self, call: Call, plan: Plan) -> Opened:
        """Open the upstream (falling back while nothing is sent); the frames follow."""
        if plan.native:
            return await self._stream_native(call, plan)
        body = {**plan.body, "stream": True}
        stream = await self.pipeline.stream(call, body)
        events = ResponseEvents(plan.request, stream.target.entry.id)

        async def frames() -> AsyncIterator[bytes]:
            for out in events.start():
                yield out
            try:
                async for chunk in stream.chunks:
                    for out in events.feed(chunk):
                        yield out
            finally:
                await stream.aclose()  # bills, also when the client went away
            if stream.error is not None:
                code = mid_stream_code(stream.error)
                yield events.error(code, stream.error.message, call.request_id)
            else:
                cost = money(stream.cost) if stream.cost is not None else None
                for out in events.finish(stream.normalizer.usage, cost):
                    yield out
            yield DONE_FRAME

        return Opened(frames(), answer_headers(stream.target, stream.attempted), stream.aclose)

    async def _stream_native(self, call: Call, plan: Plan) -> Opened:
        await call.admit(plan.entries[0].id, plan.body)
        call.streamed = True
        router = self.state.router
        ctx = self.state.call_context(call.request_id)

        async def attempt(provider: Any, slot: Any, timeouts: Any, end: float) -> Any:
            return await router.open_primed(
                lambda: open_response_stream(provider, plan.body, slot.target, ctx), provider.name, slot, timeouts, end
            )

        try:
            try:
                target, upstream = await router.run(
                    plan.entries,
                    call.attempted,
                    attempt,
                    ctx=ctx,
                    keeps_slot=True,
                    admit=call.candidate_admit(plan.entries),
                )
            finally:
                metering.count_upstream_errors(call.attempted)
        except BaseException as exc:
            call.finish(error=exc)
            raise
        public = target.entry.id
        seen: dict[str, Any] = {"usage": None, "text_chars": 0, "closed": False, "failure": None}

        async def close() -> None:
            if seen["closed"]:
                return
            seen["closed"] = True
            cost: Decimal | None = None
            try:
                await upstream.aclose()
                usage = seen["usage"]
                estimated = None if usage is not None else (0, seen["text_chars"] // 4)
                cost = await call.meter(
                    target,
                    usage,
                    estimated=estimated,
                    tokens=int(usage.get("total_tokens") or 0) if usage is not None else 0,
                )
            finally:
                call.finish(target=target, usage=seen["usage"], cost=cost, error=seen["failure"], status=200)

        async def frames() -> AsyncIterator[bytes]:
            last_sequence = -1
            failure: UpstreamError | None = None
            try:
                async for event in upstream:
                    response = event.get("response")
                    if isinstance(response, dict):
                        response["model"] = public
                        if isinstance(response.get("usage"), dict):
                            seen["usage"] = response["usage"]
                    if event.get("type") == "response.output_text.delta":
                        seen["text_chars"] += len(str(event.get("delta") or ""))
                        call.token_seen()
                    if isinstance(event.get("sequence_number"), int):
                        last_sequence = event["sequence_number"]
                    yield frame(event, event=str(event.get("type")))
            except UpstreamError as exc:
                failure = seen["failure"] = exc
            finally:
                await close()
            if failure is not None:
                code = mid_stream_code(failure)
                err = {"code": code, "message": failure.message, "request_id": call.request_id}
                yield frame(
                    {
                        "type": "error",
                        "sequence_number": last_sequence + 1,
                        "code": code,
                        "message": failure.message,
                        "param": None,
                        "error": err,
                    },
                    event="error",
                )
            yield DONE_FRAME

        return Opened(frames(), answer_headers(target, call.attempted), close)
