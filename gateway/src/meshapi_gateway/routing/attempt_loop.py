"""One request's walk over its candidates, as an object whose steps have names.

``Router.run`` makes an ``AttemptLoop`` and runs it. A run is rounds; a round walks the
candidate models in order (``admits``: context floor, balance and admission checks), and
each model's deployments least-loaded first (``may_ask``: Retry-After, breakers). Each try
(in ``try_model``) ends in an answer or a failure, and the failure decides what comes next
(``on_failure``): the next deployment, a longer-context model (``splice_context_fallbacks``),
or the end. When a round has no answer, ``next_round_delay`` says whether another round may
run and after how long (backoff, Retry-After, deadline, retry budget), or raises the answer
the client gets. The steps share the request's state as attributes, each written by one step.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Awaitable, Callable, Generic, TypeVar

from meshapi_gateway.errors import ContextLengthExceeded, GatewayError, UpstreamError
from meshapi_gateway.providers.base import CallContext, Provider, Target
from meshapi_gateway.providers.upstream_errors import timed_out
from meshapi_gateway.reliability import metrics as rmetrics
from meshapi_gateway.reliability.policy import Timeouts
from meshapi_gateway.running_loop import request_task

if TYPE_CHECKING:
    from meshapi_gateway.billing.usage import Admit
    from meshapi_gateway.catalog import ModelEntry
    from meshapi_gateway.routing.router import Router


@dataclass(slots=True)
class AttemptRecord:
    """One try on one deployment: what a finished call reports to its observers."""

    model: str
    deployment: str  # the slot key, ``<model id>#<deployment index>``
    outcome: str  # "ok", or the error code it failed with
    duration: float  # seconds, up to the answer (or, for a stream, its first chunk)


@dataclass(slots=True)
class Attempted:
    """What the router tried for one request (for the fallback header, metrics, errors and observers)."""

    tried: list[str] = field(default_factory=list)
    errors: list[UpstreamError] = field(default_factory=list)
    retry_rounds: int = 0
    attempts: list[AttemptRecord] = field(default_factory=list)

    def models(self) -> list[str]:
        """The models tried, in order, each once."""
        return list(dict.fromkeys(self.tried))


class Slot:
    """One deployment of one model, with the live numbers the balancer needs."""

    __slots__ = ("in_flight", "key", "target", "weight")

    def __init__(self, target: Target, key: str, weight: float) -> None:
        self.target = target
        self.key = key
        self.weight = weight
        self.in_flight = 0


T = TypeVar("T")
# One attempt on one deployment: (provider, slot, timeouts, attempt deadline in loop time) → result.
Attempt = Callable[[Provider, Slot, Timeouts, float], Awaitable[T]]


def rank(slot: Slot) -> tuple[float, float]:
    # Least in-flight per unit of weight first; among equals a weighted random draw
    # (Efraimidis-Spirakis key), so idle deployments share traffic by weight.
    return slot.in_flight / slot.weight, -(random.random() ** (1.0 / slot.weight))


def counts_against_deployment(exc: UpstreamError) -> bool:
    """Failures that say something about the upstream's health (not about the request)."""
    return exc.retryable and not isinstance(exc, ContextLengthExceeded)


class Next(Enum):
    """What a failed try leads to."""

    DEPLOYMENT = "the model's next deployment"
    MODEL = "the next model (a longer-context one was put next)"


class AttemptLoop(Generic[T]):
    # Made once per call on the hot path: slots keep it small and its attributes quick.
    __slots__ = (
        "admit",
        "attempt",
        "attempted",
        "context_floor",
        "ctx",
        "deadline",
        "entries",
        "keeps_slot",
        "loop",
        "not_before",
        "order",
        "position",
        "refused",
        "retry_worthy",
        "round_errors",
        "round_index",
        "router",
    )

    def __init__(
        self,
        router: Router,
        entries: list[ModelEntry],
        attempted: Attempted,
        attempt: Attempt[T],
        *,
        ctx: CallContext | None = None,
        deadline: float | None = None,
        keeps_slot: bool = False,
        admit: Admit | None = None,
        task: asyncio.Task[object] | None = None,
    ) -> None:
        self.router = router
        self.entries = entries
        self.attempted = attempted
        self.attempt = attempt
        self.ctx = ctx
        self.deadline = deadline  # loop time; bounds the whole request
        self.keeps_slot = keeps_slot  # the result (a stream) holds its deployment and releases it itself
        self.admit = admit
        # The loop of the task the attempts run in (``task``: the caller's, when it has found it already):
        # ``current_task()`` and ``get_running_loop()`` would each be a getpid system call.
        self.loop = (task if task is not None else request_task()).get_loop()
        self.order = entries  # copied only if a context-window fallback has to be put in
        self.position = 0  # the next index of ``order`` in this round
        self.refused: GatewayError | None = None  # the last admission refusal (the answer if nothing else)
        # Per request only: a deployment that answered Retry-After is not asked again before it.
        self.not_before: dict[str, float] | None = None
        self.round_index = 0
        self.round_errors = 0
        self.retry_worthy = False
        self.context_floor = 0  # a model this short (or shorter) cannot take the prompt

    # -- the whole run ---------------------------------------------------------------------------
    async def run(self) -> tuple[Target, T]:
        self.router.budget.deposit()
        while True:
            found = await self.round()
            if found is not None:
                return found
            delay = self.next_round_delay()
            rmetrics.RETRY_ROUNDS.labels(self.entries[0].id).inc()
            await asyncio.sleep(delay)
            self.round_index += 1
            self.attempted.retry_rounds += 1

    async def round(self) -> tuple[Target, T] | None:
        """Every candidate once; the answer, or None when none answered."""
        self.round_errors = 0
        self.retry_worthy = False
        self.context_floor = 0
        self.position = 0
        while self.position < len(self.order):
            entry = self.order[self.position]
            self.position += 1
            if not self.admits(entry):
                continue
            found = await self.try_model(entry)
            if found is not None:
                return found
        return None

    # -- one model ---------------------------------------------------------------------------------
    def admits(self, entry: ModelEntry) -> bool:
        """Whether ``entry`` may be tried: long enough for the prompt, and admitted (balance, checks)."""
        if entry.context_length <= self.context_floor:
            return False
        if self.admit is not None:
            try:
                self.admit(entry)
            except GatewayError as exc:
                self.refused = exc
                return False
        return True

    async def try_model(self, entry: ModelEntry) -> tuple[Target, T] | None:
        slots, timeouts = self.router.slots(entry)
        ranked = slots if len(slots) == 1 else sorted(slots, key=rank)
        now = time.time()
        for slot in ranked:
            if not self.may_ask(slot, now):
                continue
            # This try ends at the model's total timeout, within the request's deadline.
            end = self.loop.time() + timeouts.total
            if self.deadline is not None:
                if self.deadline <= self.loop.time():
                    self.attempted.errors.append(timed_out("the upstream", "answer within the request's timeout"))
                    raise self.router.failure(self.attempted)
                end = min(end, self.deadline)
            self.attempted.tried.append(entry.id)
            try:
                provider = self.router.providers.get(slot.target.deployment.provider or entry.provider)
            except UpstreamError as exc:
                self.attempted.errors.append(exc)
                self.round_errors += 1
                continue
            # The try on one deployment, in this frame (one coroutine a request less than a method of its
            # own): its answer, or its ``UpstreamError`` recorded for ``on_failure`` to judge.
            if self.ctx is not None:
                self.ctx.connect_timeout = timeouts.connect
                self.ctx.read_timeout = (
                    max(timeouts.first_token, timeouts.idle) if self.keeps_slot else max(0.001, end - self.loop.time())
                )
            slot.in_flight += 1
            held = False
            began = time.perf_counter()
            try:
                result = await self.attempt(provider, slot, timeouts, end)
                held = self.keeps_slot
            except UpstreamError as exc:
                self.attempted.attempts.append(AttemptRecord(entry.id, slot.key, exc.code, time.perf_counter() - began))
                self.attempted.errors.append(exc)
                if self.on_failure(entry, slot, exc) is Next.MODEL:
                    break
                continue
            finally:
                if not held:
                    slot.in_flight -= 1
            return self.succeeded(entry, slot, began, result)
        return None

    def may_ask(self, slot: Slot, now: float) -> bool:
        """Not before the deployment's Retry-After, and not while its breaker is open."""
        if self.not_before is not None and self.not_before.get(slot.key, 0.0) > self.loop.time():
            return False
        if not self.router.breakers.allow(slot.key, now):
            rmetrics.BREAKER_SKIPS.labels(slot.key).inc()
            return False
        return True

    # -- one deployment ------------------------------------------------------------------------------
    def succeeded(self, entry: ModelEntry, slot: Slot, began: float, result: T) -> tuple[Target, T]:
        """Record the try that answered; the answer with the deployment it came from."""
        self.attempted.attempts.append(AttemptRecord(entry.id, slot.key, "ok", time.perf_counter() - began))
        self.router.breakers.success(slot.key)
        if slot.target.entry is not self.entries[0]:
            rmetrics.FALLBACKS.labels(self.entries[0].id, slot.target.entry.id).inc()
        return slot.target, result

    def on_failure(self, entry: ModelEntry, slot: Slot, exc: UpstreamError) -> Next:
        """Count the failure against the deployment when it says something about its health, and decide."""
        self.round_errors += 1
        if counts_against_deployment(exc):
            self.router.breakers.failure(slot.key)
        if isinstance(exc, ContextLengthExceeded):
            self.context_floor = max(self.context_floor, entry.context_length)
            self.splice_context_fallbacks(entry)
            return Next.MODEL
        if not exc.retryable:
            raise self.router.failure(self.attempted) from exc
        self.retry_worthy = True
        if exc.retry_after is not None:
            self.note_retry_after(slot, exc.retry_after)
        return Next.DEPLOYMENT

    def splice_context_fallbacks(self, entry: ModelEntry) -> None:
        """Put the model's longer-context fallbacks next (those not already coming)."""
        rest = self.order[self.position :]
        extra = [
            e
            for e in (self.router.catalog.get(m) for m in entry.context_window_fallbacks)
            if e is not None and all(e is not o for o in rest)
        ]
        if self.order is self.entries:
            self.order = list(self.entries)
        self.order[self.position : self.position] = extra

    def note_retry_after(self, slot: Slot, retry_after: float) -> None:
        """Not before the upstream's own wait; longer than the policy's cap: never again in this request."""
        if self.not_before is None:
            self.not_before = {}
        wait = retry_after if retry_after <= self.router.retry.retry_after_max else math.inf
        self.not_before[slot.key] = self.loop.time() + wait

    # -- between rounds ----------------------------------------------------------------------------
    def next_round_delay(self) -> float:
        """Seconds to wait before another round, or raise what the client is told when none may run."""
        router = self.router
        if not self.round_errors and not self.attempted.errors:
            raise self.refused or router.all_cooling(self.order)  # everything was skipped
        if not self.retry_worthy:
            raise self.refused or router.failure(self.attempted)
        delay = router.retry.delay(self.round_index, None)
        if delay is None:
            raise self.refused or router.failure(self.attempted)
        if self.not_before:
            # Wait until some deployment may be asked again (its Retry-After has passed).
            now = self.loop.time()
            ready = min(self.not_before.get(s.key, now) for e in self.order for s in router.slots(e)[0])
            if ready == math.inf:
                raise self.refused or router.failure(self.attempted)
            delay = max(delay, ready - now)
        if self.deadline is not None and self.loop.time() + delay >= self.deadline:
            raise self.refused or router.failure(self.attempted)
        if not router.budget.try_spend():
            rmetrics.RETRY_BUDGET_EXHAUSTED.inc()
            raise self.refused or router.failure(self.attempted)
        return delay
