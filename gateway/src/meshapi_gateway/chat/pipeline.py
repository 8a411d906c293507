"""One chat completion, from a validated body to a billed answer.

route → auth → ``Call`` (calls/) → [this] templates, candidates → router → provider → normalize.
Admission, metering and the call's report go through the ``Call`` the caller passes in;
compare, the Responses API and batches call the same two methods, so limits, fallbacks
and billing behave identically everywhere.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable

import orjson

from meshapi_gateway.cache import replay
from meshapi_gateway.cache.service import hit_target
from meshapi_gateway.calls import metering
from meshapi_gateway.calls.plan import read as read_plan
from meshapi_gateway.chat.normalize import StreamNormalizer, normalize_completion
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.money import money
from meshapi_gateway.observability.record import note_choice_finish_reasons, note_finish_reasons
from meshapi_gateway.providers.base import CallContext, Target, UpstreamError
from meshapi_gateway.providers.chunk_batches import EVENT_SEP, RelayedDelta
from meshapi_gateway.routing import Attempted

if TYPE_CHECKING:
    from meshapi_gateway.auth.principal import Principal
    from meshapi_gateway.cache import Lookup, ResponseCache
    from meshapi_gateway.calls import Call
    from meshapi_gateway.catalog import ModelEntry
    from meshapi_gateway.reliability.stream_guard import GuardedStream
    from meshapi_gateway.state import GatewayState

log = logging.getLogger("meshapi_gateway.chat")

# A hook that rewrites the body before routing (prompt templates plug in here).
BodyHook = Callable[["Principal", dict[str, Any]], Awaitable[dict[str, Any]]]


def not_a_chat_model(model_id: str, *where: str | int) -> GatewayError:
    return GatewayError(
        "model_capability_not_supported",
        f"Model '{model_id}' is an embeddings model; it does not answer chat completions.",
        details=[
            {
                "type": "value_error",
                "loc": ["body", *(where or ("model",))],
                "msg": "not a chat model",
                "input": model_id,
            }
        ],
    )


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    """A rough count (4 characters a token) for the rare stream that ends without usage."""
    chars = 0
    for m in body.get("messages") or []:
        c = m.get("content") if isinstance(m, dict) else None
        if isinstance(c, str):
            chars += len(c)
        elif isinstance(c, list):
            chars += sum(len(p.get("text") or "") for p in c if isinstance(p, dict))
    return max(1, chars // 4)


@dataclass(slots=True)
class ChatOutcome:
    target: Target
    response: dict[str, Any]
    attempted: Attempted
    cost: Decimal
    # The call's context: its ``response_headers`` (e.g. dropped-parameter warnings) go to the client.
    ctx: CallContext | None = None


@dataclass(slots=True)
class ChatStream:
    """An opened stream: normalized chunk dicts, then ``usage``/``cost`` once it has ended.

    ``batches`` hands out the chunks of each upstream read together (a relay writes each batch
    at once); ``completed`` or ``error`` is set before the last batch is handed out, so the
    relay can end its answer with it. A batch may hold text chunks still encoded
    (``RelayedDelta``, for ``sse.frames``). ``chunks`` is the same stream one chunk at a time,
    every chunk a dict.
    """

    target: Target
    attempted: Attempted
    batches: AsyncIterator[list[dict[str, Any]]]
    normalizer: StreamNormalizer
    cost: Decimal | None = None
    error: UpstreamError | None = None
    completed: bool = False
    ctx: CallContext | None = None
    _closer: Callable[[], Awaitable[None]] | None = None  # bills and finishes the stream (``aclose``)
    upstream: AsyncIterator[dict[str, Any]] | None = None

    def read_in(self, task: asyncio.Task[object]) -> None:
        """The chunks are read in ``task`` from now on (the upstream's timeouts then cancel that task)."""
        move = getattr(self.upstream, "read_in", None)
        if move is not None:
            move(task)

    @property
    def chunks(self) -> AsyncIterator[dict[str, Any]]:
        return _one_by_one(self.batches)

    def aclose(self) -> Awaitable[None]:
        """Bill and finish the stream, once: a later close (or one after billing failed) does nothing.

        The closer's own coroutine, handed back to be awaited (no coroutine of this method's around it).
        """
        closer, self._closer = self._closer, None
        return closer() if closer is not None else _closed()


async def _closed() -> None:
    """What closing a stream already closed (or never billed here: a replayed answer) awaits."""


async def _one_by_one(batches: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[dict[str, Any]]:
    async for batch in batches:
        for chunk in batch:
            if type(chunk) is RelayedDelta:
                # Text chunks relayed as bytes are decoded for consumers that read chunks (not the chat relay).
                for encoded in chunk.encoded.split(EVENT_SEP):
                    yield orjson.loads(encoded)
            else:
                yield chunk


class _Once:
    """A stream's one and only batch (a replayed answer): the relay stops after it, nothing to close."""

    __slots__ = ("_batch",)

    def __init__(self, batch: list[dict[str, Any]]) -> None:
        self._batch: list[dict[str, Any]] | None = batch

    def __aiter__(self) -> "_Once":
        return self

    async def __anext__(self) -> list[dict[str, Any]]:
        batch, self._batch = self._batch, None
        if batch is None:
            raise StopAsyncIteration
        return batch


class _NormalizedBatches:
    """A stream's normalized chunks, one upstream read at a time.

    ``completed`` or ``error`` is set on the ``ChatStream`` before its last batch is handed
    out. A plain object rather than an async generator: it steps once per read of every
    stream, and a generator costs a registration with the event loop and frames of its own.
    The stream and this object refer to each other; the reference back is dropped once the
    batches are over, so that refcounting frees a stream's objects (the request's task, call,
    normalizer, upstream reader) when its request ends instead of the garbage collector.
    """

    __slots__ = ("_call", "_done", "_first", "_normalizer", "_upstream", "stream")

    def __init__(self, upstream: GuardedStream, normalizer: StreamNormalizer, call: Call) -> None:
        self._upstream = upstream
        self._normalizer = normalizer
        self._call = call
        self._first = True
        self._done = False
        self.stream: ChatStream | None = None  # set once the stream it belongs to exists

    def __aiter__(self) -> "_NormalizedBatches":
        return self

    async def __anext__(self) -> list[dict[str, Any]]:
        if self._done:
            raise StopAsyncIteration
        upstream = self._upstream
        normalizer = self._normalizer
        stream = self.stream
        assert stream is not None
        out: list[dict[str, Any]] = []
        try:
            while not upstream.ended:
                # The opening's read, at hand, asked for until the stream's first chunk has gone out: no
                # coroutine to step for it, and no call a read after it.
                raw = upstream.ready() if self._first else None
                if raw is None:
                    try:
                        raw = await upstream.next_batch()
                    except StopAsyncIteration:
                        out = []
                        break
                out = normalizer.feed_batch(raw)
                if out and self._first:
                    self._call.token_seen()
                    self._first = False
                if upstream.ended:
                    break
                if out:
                    return out
            else:
                out = []
            if normalizer.pending_calls:  # asked here: most streams hold none, and ``finish`` is a call
                out.extend(normalizer.finish())
            stream.completed = True
        except UpstreamError as exc:
            stream.error = exc
            out = normalizer.finish()
        except BaseException:  # cancelled (client gone, shutdown): nothing more is read
            self._done = True
            self.stream = None
            raise
        self._done = True
        self.stream = None
        if out:
            return out
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self._done = True
        self.stream = None


class ChatPipeline:
    def __init__(self, state: "GatewayState") -> None:
        self.state = state
        self.body_hooks: list[BodyHook] = []
        # Streams opened and not yet billed; a graceful shutdown waits for them before the last flush.
        self.open_streams = 0

    async def prepare(self, principal: "Principal", body: dict[str, Any]) -> dict[str, Any]:
        for hook in self.body_hooks:
            body = await hook(principal, body)
        if body.get("template") and not self.body_hooks:
            raise GatewayError("not_found", f"Template '{body['template']}' not found.")
        return body

    def _candidates(self, model: Any, fallbacks: list[Any] | None) -> list[Any]:
        entries = self.state.router.candidates(model, fallbacks)
        if entries and entries[0].model_type == "embedding":
            raise not_a_chat_model(entries[0].id)
        if len(entries) == 1:
            return entries
        # An embeddings model among the fallbacks could only fail: it is not tried.
        return [e for e in entries if e.model_type != "embedding"]

    async def complete(
        self,
        call: Call,
        body: dict[str, Any],
        *,
        ctx: CallContext | None = None,
    ) -> ChatOutcome:
        """One whole answer, admitted, routed, billed and reported through ``call``."""
        requested, model, fallbacks, deadline = read_plan(body)
        await call.admit(requested, body)
        target: Target | None = None
        usage: dict[str, Any] | None = None
        cost: Decimal | None = None
        error: BaseException | None = None
        try:
            entries = self._candidates(model, fallbacks)
            cache = self.state.response_cache
            # ``cache.applies(body)``, spelled out: the one check of every call when nobody uses the cache.
            looked = (
                await cache.lookup(call, body)
                if cache is not None and ("cache" in body or cache.has_defaults)
                else None
            )
            if looked is not None and looked.answer is not None:
                assert cache is not None
                target = hit_target(entries, looked.model)
                data = replay.fresh(looked.answer)
                data["model"] = target.entry.id
                usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
                cost = call.meter_hit(target, usage, cache.settings.hit_cost_fraction)
                data["cost"] = money(cost)
                return ChatOutcome(target, data, call.attempted, cost, None)
            ctx = ctx or self.state.call_context(call.request_id)
            ctx.owner = call.principal.owner
            try:
                target, data = await self.state.router.chat(
                    entries,
                    body,
                    ctx,
                    call.attempted,
                    deadline=deadline,
                    admit=call.candidate_admit(entries),
                    task=call.task,
                )
            finally:
                if call.attempted.errors:
                    metering.count_upstream_errors(call.attempted)
            data = normalize_completion(data, target.entry.id)
            note_choice_finish_reasons(data.get("choices") or ())
            found = data.get("usage")
            usage = found if isinstance(found, dict) else None
            if looked is not None and cache is not None and cache.storable(looked, data):
                await cache.save(looked, target.entry.id, data)
            cost = await call.meter(target, usage)
            data["cost"] = money(cost)
            return ChatOutcome(target, data, call.attempted, cost, ctx)
        except BaseException as exc:
            error = exc
            raise
        finally:
            call.finish(target=target, usage=usage, cost=cost, error=error)

    async def stream(
        self,
        call: Call,
        body: dict[str, Any],
        *,
        ctx: CallContext | None = None,
    ) -> ChatStream:
        """Open the upstream stream (falling back while nothing has been sent) and return it.

        Closing the returned stream bills it and finishes ``call``.
        """
        requested, model, fallbacks, deadline = read_plan(body)
        await call.admit(requested, body)
        call.streamed = True
        found: Lookup | None = None
        try:
            entries = self._candidates(model, fallbacks)
            cache = self.state.response_cache
            if cache is not None and cache.applies(body):
                found = await cache.lookup(call, body)
                if found is not None and found.answer is not None:
                    return self._replay(call, entries, found, cache)
            ctx = ctx or self.state.call_context(call.request_id)
            ctx.owner = call.principal.owner
            try:
                target, upstream = await self.state.router.open_chat_stream(
                    entries,
                    body,
                    ctx,
                    call.attempted,
                    deadline=deadline,
                    admit=call.candidate_admit(entries),
                    task=call.task,
                )
            finally:
                if call.attempted.errors:  # most streams open at the first try: no call to count nothing
                    metering.count_upstream_errors(call.attempted)
        except BaseException as exc:
            call.finish(error=exc)
            raise
        normalizer = StreamNormalizer(target.entry.id)
        tc = body.get("tool_choice")
        if isinstance(tc, dict):
            normalizer.force_named_tool()
        holder: ChatStream

        async def settle() -> None:
            if not upstream.closed_at_end():  # most streams: over, their connection already let go
                try:
                    await upstream.aclose()
                except Exception:  # closing a dead connection must not hide the billing below
                    log.debug("closing upstream stream failed", exc_info=True)
            if holder.cost is None:
                estimated = None
                if normalizer.usage is None:
                    estimated = (estimate_prompt_tokens(body), normalizer.content_chunks + len(normalizer.tool_calls))
                self.open_streams -= 1
                note_finish_reasons([normalizer.finish_reason])
                try:
                    holder.cost = await call.meter(target, normalizer.usage, estimated=estimated, reported=True)
                finally:
                    call.finish(target=target, usage=normalizer.usage, cost=holder.cost, error=holder.error, status=200)
                if found is not None and cache is not None and holder.completed and holder.error is None:
                    await self._keep_stream(cache, found, body, normalizer)

        batches = _NormalizedBatches(upstream, normalizer, call)
        # By position, in the dataclass's field order, its closer given: keywords cost a stream more than
        # the object itself.
        holder = ChatStream(target, call.attempted, batches, normalizer, None, None, False, ctx, settle, upstream)
        batches.stream = holder
        self.open_streams += 1
        return holder

    @staticmethod
    def _replay(call: Call, entries: list[ModelEntry], found: Lookup, cache: ResponseCache) -> ChatStream:
        """A stream that says what the cached answer says, billed and reported at once."""
        assert found.answer is not None
        target = hit_target(entries, found.model)
        data = replay.fresh(found.answer)
        data["model"] = target.entry.id
        normalizer = StreamNormalizer(target.entry.id)
        normalizer.id, normalizer.created = data["id"], data["created"]
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
        normalizer.usage = usage
        cost = call.meter_hit(target, usage, cache.settings.hit_cost_fraction)
        call.token_seen()
        call.finish(target=target, usage=usage, cost=cost, status=200)

        return ChatStream(
            target, call.attempted, _Once(list(replay.chunks(data))), normalizer, cost=cost, completed=True
        )

    @staticmethod
    async def _keep_stream(
        cache: ResponseCache, found: Lookup, body: dict[str, Any], normalizer: StreamNormalizer
    ) -> None:
        """Keep a finished single-answer stream in the cache (as the completion it amounts to)."""
        n = body.get("n")
        if n not in (None, 1):
            return
        completion = replay.completion_of_stream(normalizer)
        if cache.storable(found, completion):
            try:
                await cache.save(found, normalizer.public_model, completion)
            except Exception:  # the client has its answer; a failed save is only a later miss
                log.exception("keeping a streamed answer in the cache failed")
