"""The router: which upstream serves a request, and what happens when one fails.

Candidates are the requested model, then the request's own ``models`` list (OpenRouter's
ordered fallbacks), then the catalog's fallback chain of each. Within a model the
healthy deployments are tried least-loaded first (in-flight calls per unit of weight,
ties broken by a weighted draw). A retryable failure (connect error, timeout, 429, 5xx,
overload) moves on to the next deployment, then the next model; a context-length error
moves on to a longer-context model only. When every candidate has failed, the whole
list is tried again after a backoff that honours ``Retry-After``, while the retry budget
allows. Streams are opened and read up to their first chunk before they count as
answered, so a stream falls back as long as nothing has reached the client.

Every attempt runs under the model's timeouts and reports to the deployment's circuit
breaker; see docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable

from meshapi_gateway.catalog import Catalog, ModelEntry
from meshapi_gateway.errors import GatewayError, before_first_chunk
from meshapi_gateway.providers.base import CallContext, Provider, Target, UpstreamError
from meshapi_gateway.providers.chunk_batches import ChunkBatches
from meshapi_gateway.providers.registry import ProviderRegistry
from meshapi_gateway.providers.upstream_errors import timed_out
from meshapi_gateway.reliability import metrics as rmetrics
from meshapi_gateway.reliability.breaker import Breakers
from meshapi_gateway.reliability.policy import RetryBudget, RetryPolicy, Timeouts, default_timeouts, timeouts_for
from meshapi_gateway.reliability.stream_guard import GuardedStream
from meshapi_gateway.reliability.watchdog import Watchdog
from meshapi_gateway.routing.attempt_loop import Attempt, AttemptLoop, T

# Re-exported: callers name them as the router's.
from meshapi_gateway.routing.attempt_loop import Attempted as Attempted
from meshapi_gateway.routing.attempt_loop import AttemptRecord as AttemptRecord
from meshapi_gateway.routing.attempt_loop import Slot as Slot
from meshapi_gateway.running_loop import request_task

if TYPE_CHECKING:
    from meshapi_gateway.billing.usage import Admit
    from meshapi_gateway.config import Settings


def model_not_found(model_id: str) -> GatewayError:
    return GatewayError("model_not_found", f"Model '{model_id}' is not supported.")


class Router:
    def __init__(self, catalog: Catalog, providers: ProviderRegistry, settings: "Settings | None" = None) -> None:
        self.catalog = catalog
        self.providers = providers
        self.default_timeouts = default_timeouts(settings)
        self.retry = RetryPolicy.from_settings(settings)
        self.budget = RetryBudget(
            settings.retry_budget_ratio if settings else 0.2, settings.retry_budget_min_per_second if settings else 5.0
        )
        self.breakers = Breakers.from_settings(settings)
        self.breakers.listeners.append(self._count_opening)
        self._slots: dict[str, tuple[ModelEntry, list[Slot], Timeouts]] = {}

    @staticmethod
    def _count_opening(key: str, open_until: float, cooldown: float) -> None:
        if open_until:
            rmetrics.BREAKER_OPENED.labels(key).inc()

    # -- candidates ------------------------------------------------------------
    def resolve(self, model_id: str) -> ModelEntry:
        entry = self.catalog.get(model_id)
        if entry is None:
            raise model_not_found(model_id)
        return entry

    def candidates(self, model_id: str | None, fallbacks: list[str] | None = None) -> list[ModelEntry]:
        """Ordered, de-duplicated entries; unknown fallback ids are skipped, an unknown primary is a 404."""
        if model_id and not fallbacks:
            entry = self.catalog.get(model_id)
            if entry is not None and not entry.fallbacks:
                return [entry]  # the common case, without the queue below
        order: list[str] = []
        if model_id:
            order.append(model_id)
        order.extend(m for m in (fallbacks or []) if isinstance(m, str))
        if not order:
            raise GatewayError(
                "validation_error",
                "Request validation failed.",
                details=[{"type": "missing", "loc": ["body", "model"], "msg": "Field required"}],
            )
        primary = self.catalog.get(order[0])
        if primary is None and model_id:
            raise model_not_found(order[0])
        seen: set[str] = set()
        out: list[ModelEntry] = []
        queue = list(order)
        while queue:
            mid = queue.pop(0)
            if mid in seen:
                continue
            seen.add(mid)
            entry = self.catalog.get(mid)
            if entry is None:
                continue
            out.append(entry)
            queue.extend(entry.fallbacks)
        if not out:
            raise model_not_found(order[0])
        return out

    def slots(self, entry: ModelEntry) -> tuple[list[Slot], Timeouts]:
        """The entry's deployments (built once per catalog entry) and its timeouts."""
        cached = self._slots.get(entry.id)
        if cached is None or cached[0] is not entry:
            slots = [
                Slot(Target(entry, d, d.resolved_api_key()), f"{entry.id}#{i}", max(d.weight, 1e-6))
                for i, d in enumerate(entry.all_deployments())
            ]
            cached = (entry, slots, timeouts_for(entry, self.default_timeouts))
            self._slots[entry.id] = cached
        return cached[1], cached[2]

    # -- failures --------------------------------------------------------------
    def failure(self, attempted: Attempted) -> GatewayError:
        """What the client is told when nothing answered: the last failure, its Retry-After rounded up."""
        last = attempted.errors[-1] if attempted.errors else None
        if last is None:
            return GatewayError("provider_not_available", "No deployment could serve this request.")
        return GatewayError(
            last.code,
            last.message,
            status=last.status,
            provider_error=last.provider_error,
            retry_after_seconds=int(last.retry_after + 0.999) if last.retry_after is not None else None,
        )

    def all_cooling(self, entries: list[ModelEntry]) -> GatewayError:
        opened = self.breakers.open_circuits()
        until = min(opened.values(), default=time.time() + 1)
        wait = max(1, math.ceil(until - time.time()))
        names = ", ".join(e.id for e in entries)
        return GatewayError(
            "provider_not_available",
            f"Every deployment of {names} is cooling down after repeated failures.",
            retry_after_seconds=wait,
        )

    # -- the attempt loop --------------------------------------------------------
    def run(
        self,
        entries: list[ModelEntry],
        attempted: Attempted,
        attempt: Attempt[T],
        *,
        ctx: CallContext | None = None,
        deadline: float | None = None,
        keeps_slot: bool = False,
        admit: Admit | None = None,
    ) -> Awaitable[tuple[Target, T]]:
        """Try ``attempt`` over the candidates (then again, within the retry rules) until one succeeds.

        ``deadline`` (event-loop time) bounds the whole request; ``keeps_slot`` says the
        result holds the deployment busy (a stream) and releases it itself. ``admit`` is the
        call's admission (balance and checks), run before each candidate model is tried: a
        refused model is skipped, and when nothing else answers the refusal is the answer.
        The steps are ``AttemptLoop``'s (routing/attempt_loop.py); this hands back its run, to be awaited.
        """
        return AttemptLoop(
            self, entries, attempted, attempt, ctx=ctx, deadline=deadline, keeps_slot=keeps_slot, admit=admit
        ).run()

    async def first_success(
        self,
        entries: list[ModelEntry],
        attempted: Attempted,
        call: Callable[[Provider, Target], Awaitable[T]],
        *,
        ctx: CallContext | None = None,
        deadline: float | None = None,
        admit: Admit | None = None,
    ) -> tuple[Target, T]:
        """Run ``call`` (a whole, non-streamed upstream call) with fallbacks, retries and the total timeout.

        Adapters that apply ``ctx``'s timeouts to the whole call themselves (the class
        attribute ``applies_call_timeouts``) are not wrapped again.
        """

        async def attempt(provider: Provider, slot: Slot, timeouts: Timeouts, end: float) -> T:
            if ctx is not None and getattr(provider, "applies_call_timeouts", False):
                return await call(provider, slot.target)
            return await self.within_total(call(provider, slot.target), provider.name, end)

        return await AttemptLoop(self, entries, attempted, attempt, ctx=ctx, deadline=deadline, admit=admit).run()

    @staticmethod
    async def within_total(work: Awaitable[T], provider_name: str, end: float) -> T:
        """Await ``work`` (a whole upstream call) until ``end`` (loop time), then fail it as timed out."""
        task = request_task()  # ``current_task()`` and ``get_running_loop()`` would each be a getpid
        dog = Watchdog(task.get_loop(), task)
        dog.wait_until(end)
        try:
            return await work
        except asyncio.CancelledError:
            if dog.claim_expiry():
                raise timed_out(provider_name, "answer within the total timeout") from None
            raise
        finally:
            dog.stop()

    def chat(
        self,
        entries: list[ModelEntry],
        body: dict[str, Any],
        ctx: CallContext,
        attempted: Attempted,
        *,
        deadline: float | None = None,
        admit: Admit | None = None,
        task: asyncio.Task[object] | None = None,
    ) -> Awaitable[tuple[Target, dict[str, Any]]]:
        """The attempt loop's run for ``provider.chat`` (to be awaited; not a coroutine of its own).

        ``first_success`` without its wrapper and lambda: the busiest path. The attempt is a plain
        function too, handing back the adapter's coroutine. ``task``: the running task, when the
        caller has it.
        """

        def attempt(provider: Provider, slot: Slot, timeouts: Timeouts, end: float) -> Awaitable[dict[str, Any]]:
            if getattr(provider, "applies_call_timeouts", False):
                return provider.chat(body, slot.target, ctx)
            return self.within_total(provider.chat(body, slot.target, ctx), provider.name, end)

        return AttemptLoop(self, entries, attempted, attempt, ctx=ctx, deadline=deadline, admit=admit, task=task).run()

    async def embeddings(
        self,
        entries: list[ModelEntry],
        body: dict[str, Any],
        ctx: CallContext,
        attempted: Attempted,
        *,
        deadline: float | None = None,
        admit: Admit | None = None,
    ) -> tuple[Target, dict[str, Any]]:
        return await self.first_success(
            entries, attempted, lambda p, t: p.embeddings(body, t, ctx), ctx=ctx, deadline=deadline, admit=admit
        )

    def open_chat_stream(
        self,
        entries: list[ModelEntry],
        body: dict[str, Any],
        ctx: CallContext,
        attempted: Attempted,
        *,
        deadline: float | None = None,
        admit: Admit | None = None,
        task: asyncio.Task[object] | None = None,
    ) -> Awaitable[tuple[Target, GuardedStream]]:
        """Open a stream and wait for its first chunk; later chunks come under idle/total deadlines.

        The attempt loop's run, to be awaited (as ``chat``): no coroutine of its own per stream.
        ``task``: the running task, when the caller has it (``running_loop.request_task``).
        """

        if task is None:
            task = request_task()  # ``current_task()`` would be a getpid system call
        # Found here for every try's ``open_primed`` (not read off the loop object: the attempt would
        # refer to the loop that refers to it, a cycle only the garbage collector frees).
        running, loop = task, task.get_loop()

        # A plain function handing back ``open_primed``'s coroutine: no coroutine of its own per stream.
        def attempt(provider: Provider, slot: Slot, timeouts: Timeouts, end: float) -> Awaitable[GuardedStream]:
            return self.open_primed(
                lambda: provider.open_chat_stream(body, slot.target, ctx),
                provider.name,
                slot,
                timeouts,
                end,
                running,
                loop,
            )

        return AttemptLoop(
            self, entries, attempted, attempt, ctx=ctx, deadline=deadline, keeps_slot=True, admit=admit, task=task
        ).run()

    async def open_primed(
        self,
        opener: Callable[[], Awaitable[AsyncIterator[dict[str, Any]]]],
        provider_name: str,
        slot: Slot,
        timeouts: Timeouts,
        end: float,
        task: asyncio.Task[object] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> GuardedStream:
        """Open a stream and read its first chunk within the time-to-first-token timeout.

        Opening and the first read run without a suspension point between them, so a
        timeout always lands inside the adapter, whose own cleanup closes the connection.
        The attempt's watchdog then guards the rest of the stream. ``task`` and ``loop``: the running
        task and its loop, when the caller has them (an ``AttemptLoop`` has).
        """
        if task is None or loop is None:
            task = request_task()  # ``current_task()`` would be a getpid system call
            loop = task.get_loop()
        dog = Watchdog(loop, task)
        first_by = loop.time() + timeouts.first_token
        dog.wait_until(first_by if first_by < end else end)
        first: list[dict[str, Any]] | None = None
        inner: AsyncIterator[dict[str, Any]] | None
        try:
            inner = await opener()
            try:
                if isinstance(inner, ChunkBatches):  # the first read's chunks, handed out together
                    first = await inner.next_batch()
                    while not first:
                        first = await inner.next_batch()
                else:
                    first = [await inner.__anext__()]
            except StopAsyncIteration:
                inner = None
                first = None
            except UpstreamError as exc:
                # The upstream accepted the request and then broke before its first chunk: whatever
                # the adapter calls it, another deployment may well answer (the one rule, errors.py).
                before_first_chunk(exc)
                raise
        except asyncio.CancelledError:
            dog.stop()
            if dog.claim_expiry():
                raise timed_out(provider_name, "send the first token") from None
            raise
        except BaseException:
            dog.stop()
            raise
        dog.rest()
        breakers = self.breakers

        def on_end(outcome: bool | None) -> None:
            slot.in_flight -= 1
            if outcome is False:
                breakers.failure(slot.key)

        return GuardedStream(first, inner, timeouts.idle, end, provider_name, on_end, dog, loop)
