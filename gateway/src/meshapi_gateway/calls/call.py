"""One data-plane call: admission before it is routed, metering and the report after it.

An endpoint makes a ``Call`` once the caller is authenticated, and every step of the
policy goes through it, in this order:

    call.limit()                rate limits (429), before the body is validated
    call.admit(requested, body) balance precheck (402), then every admission check
    router, with call.candidate_admit()   balance and checks again before each candidate model
    call.meter(target, usage)   bill, count tokens toward the limits
    call.finish(...)            release what the checks reserved, report to every observer

``finish`` runs once whatever happens after ``admit`` (answer, error, client gone), so a
reservation is never leaked; see ``calls/admission.py`` and ``calls/record.py``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from meshapi_gateway.billing import usage_counts
from meshapi_gateway.billing.cost import ONE
from meshapi_gateway.calls import metering
from meshapi_gateway.calls.admission import PENDING
from meshapi_gateway.calls.record import CallRecord
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.routing import Attempted, AttemptRecord

if TYPE_CHECKING:
    from meshapi_gateway.auth.principal import Principal
    from meshapi_gateway.billing.usage import Admit, UsageRecord
    from meshapi_gateway.calls.admission import AdmissionCheck
    from meshapi_gateway.catalog import ModelEntry
    from meshapi_gateway.providers.base import Target
    from meshapi_gateway.state import GatewayState

log = logging.getLogger("meshapi_gateway.calls")

EMPTY: frozenset[str] = frozenset()


class Call:
    __slots__ = (
        "_billed_usage",
        "_finished",
        "admitted",
        "attempted",
        "billed",
        "body",
        "cache_body",
        "cache_control",
        "cache_similarity",
        "cache_status",
        "check_balance",
        "cleared",
        "endpoint",
        "first_token",
        "kind",
        "multiplier",
        "principal",
        "request_id",
        "requested",
        "reserved",
        "sole",
        "started",
        "state",
        "store_bill",
        "streamed",
        "task",
    )

    def __init__(
        self,
        state: GatewayState,
        endpoint: str,
        principal: Principal,
        request_id: str,
        *,
        kind: str | None = None,
        multiplier: Decimal = ONE,
        check_balance: bool = True,
        store_bill: bool = True,
    ) -> None:
        self.state = state
        self.endpoint = endpoint
        self.principal = principal
        self.request_id = request_id
        self.kind = kind or endpoint  # the ledger's ``kind`` column
        self.multiplier = multiplier  # price multiplier (batch discount)
        self.check_balance = check_balance  # False for work already paid for (a batch item's rerun)
        self.store_bill = store_bill  # False when the caller writes the ledger row in its own transaction
        self.requested: str | None = None
        self.body: dict[str, Any] | None = None  # the request as routed (admission checks price its worst case)
        self.attempted = Attempted()
        self.streamed = False
        self.started = time.perf_counter()
        self.first_token: float | None = None
        self.cache_control: str | None = None  # the request's Cache-Control header (cache/control.py)
        # The request's bytes as read, while the body routed is exactly what they parse to (cache/key.py).
        self.cache_body: bytes | None = None
        self.cache_status: str | None = None  # "hit", "miss" or "bypass" once the cache was asked
        self.cache_similarity: float | None = None  # a semantic hit's similarity
        self.admitted: list[AdmissionCheck] = []
        # The models no admitted check refuses per candidate (``calls.admission.clear``); None: none cleared.
        self.cleared: frozenset[str] | None = None
        # A candidate entry every admitted check cleared by itself, without context-window fallbacks
        # (``calls.admission.clear``): a router given it alone is checked by identity, not by its id.
        self.sole: ModelEntry | None = None
        self.reserved: dict[str, Any] = {}  # what admission checks hold for this call, by their own keys
        # The last bill (``meter``): its cost in counter units, for a check that settles the cost it is given.
        self.billed: UsageRecord | None = None
        self._billed_usage: dict[str, Any] | None = None  # the usage ``billed`` counted
        self._finished = False
        # The task the call runs in, when its route has found it (handed to the router, which needs it).
        self.task: asyncio.Task[Any] | None = None

    # -- before ---------------------------------------------------------------------------------------
    async def limit(self) -> dict[str, str]:
        """Count the request against the key's rate limits; the ``X-RateLimit-*`` headers to send."""
        return await self.state.limits.check(self.principal)

    async def admit(self, requested: str | None, body: dict[str, Any] | None = None) -> None:
        """The balance precheck for the model asked for, then every admission check (each may refuse)."""
        self.requested = requested
        self.body = body
        self.started = time.perf_counter()
        try:
            if self.check_balance:
                self.state.billing.precheck(self.principal, requested)
            for check in self.state.admission_checks:
                cleared = self.cleared
                verdict = check.decide(self)
                if verdict is PENDING:
                    verdict = await check.admit(self)
                if verdict is not False:  # False: nothing to check or hold for this call
                    if self.cleared is cleared:  # it cleared nothing: each candidate goes to its ``allow``
                        self.cleared, self.sole = EMPTY, None
                    self.admitted.append(check)
        except GatewayError as exc:
            self.finish(error=exc)
            raise

    def precheck(self, model: str | None) -> None:
        """The balance precheck alone, for a request that checks all its models before calling any (compare)."""
        if self.check_balance:
            self.state.billing.precheck(self.principal, model)

    def part(self, request_id: str) -> Call:
        """A call of its own for one part of a fanned-out request (a compared model, the judge)."""
        return Call(
            self.state,
            self.endpoint,
            self.principal,
            request_id,
            kind=self.kind,
            multiplier=self.multiplier,
            check_balance=self.check_balance,
            store_bill=self.store_bill,
        )

    def candidate_admit(self, entries: list[ModelEntry] | None = None) -> Admit | None:
        """What the router runs before trying each candidate model (``None``: nothing to check).

        ``entries``: the candidates the router is given. When the checks cleared each of them at
        admission and none has context-window fallbacks (the only models the router adds), the
        checks' per-candidate step could refuse none of what the router tries, so it is left out.
        """
        balance = self.state.billing.admission(self.principal) if self.check_balance else None
        checks = self.admitted
        if not checks:
            return balance
        cleared = self.cleared
        if cleared and entries is not None:
            if len(entries) == 1 and entries[0] is self.sole:
                return balance  # (no reads of the pydantic entry's fields, which cost more than the loop's steps)
            for entry in entries:
                if entry.id not in cleared or entry.context_window_fallbacks:
                    break
            else:
                return balance
        if balance is None and len(checks) == 1:
            return partial(checks[0].allow, self)  # one check alone: no closure to step through per candidate

        def admit(entry: ModelEntry) -> None:
            if balance is not None:
                balance(entry)
            for check in checks:
                check.allow(self, entry)

        return admit

    # -- after ----------------------------------------------------------------------------------------
    async def meter(
        self,
        target: Target,
        usage: dict[str, Any] | None,
        *,
        estimated: tuple[int, int] | None = None,
        tokens: int | None = None,
        reported: bool = False,
    ) -> Decimal:
        """Bill the answer and count its tokens toward the key's limits.

        ``tokens``: the count to use; ``reported``: the usage's own prompt and completion tokens (none
        without a usage, whatever was ``estimated`` for the bill).
        """
        # The bill, in this frame: every answer's bill comes this way, and a call's frame costs ≈ 0.6 k instructions.
        record = self.billed = metering.usage_record(
            self.principal, self.request_id, target, usage, self.kind, self.multiplier, estimated
        )
        self._billed_usage = usage
        cost = metering.bill(self.state.billing, record, store=self.store_bill)
        if reported:
            # The bill's record has them counted already: a stream's end does not count them twice.
            tokens = 0
            if isinstance(usage, dict):
                tokens = record.prompt_tokens + record.completion_tokens
        elif tokens is None:
            if isinstance(usage, dict):
                tokens = int(usage.get("total_tokens") or 0) or sum(usage_counts(usage)[:2])
            else:
                tokens = 0
        if tokens:
            await self.state.limits.add_tokens(self.principal, tokens)
        return cost

    def meter_hit(self, target: Target, usage: dict[str, Any] | None, fraction: Decimal) -> Decimal:
        """Bill an answer served from the cache: ``fraction`` of its price, in the ledger as a cache hit.

        Its tokens do not count toward the key's token limits (no upstream produced them); the
        request itself was counted by ``limit``.
        """
        record = metering.usage_record(
            self.principal, self.request_id, target, usage, self.kind + CACHE_HIT_SUFFIX, self.multiplier * fraction
        )
        return metering.bill(self.state.billing, record, store=self.store_bill)

    def cache_headers(self) -> dict[str, str]:
        """``x-meshapi-cache`` (and the similarity of a semantic hit) for the answer."""
        headers = {"x-meshapi-cache": self.cache_status or "bypass"}
        if self.cache_similarity is not None:
            headers["x-meshapi-cache-similarity"] = f"{self.cache_similarity:.4f}"
        return headers

    def finish_tool(self, name: str, duration: float, error: GatewayError | None = None) -> None:
        """Finish a call a tool answered rather than a model (web search): ``name`` as its model and one attempt."""
        outcome = "ok" if error is None else error.code
        self.attempted.attempts.append(AttemptRecord(name, f"{name}#0", outcome, duration))
        self.finish(error=error, served_by=name if error is None else None)

    def token_seen(self) -> None:
        """The first token went out (a stream's time to first token)."""
        if self.first_token is None:
            self.first_token = time.perf_counter() - self.started

    def finish(
        self,
        *,
        target: Target | None = None,
        usage: dict[str, Any] | None = None,
        cost: Decimal | None = None,
        error: BaseException | None = None,
        status: int | None = None,
        served_by: str | None = None,
    ) -> None:
        """Release the admission checks' reservations and report the call; only the first call counts.

        ``served_by`` names what answered a call that no catalog model answers (a web search provider).
        """
        if self._finished:
            return
        self._finished = True
        observers = self.state.call_observers
        if not self.admitted and not observers:
            return  # the common case: nothing listens
        record = self.record(target, usage, cost, error, status)
        if served_by is not None:
            record.model, record.deployment = served_by, f"{served_by}#0"
        admitted = self.admitted
        if admitted:  # most calls hold nothing: no reversed iterator to make and step
            for check in reversed(admitted):
                try:
                    check.release(self, record)
                except Exception:  # one check's bug must not keep the others' reservations
                    log.exception("admission check %r failed to release", check)
        for observer in observers:
            try:
                observer.finished(record)
            except Exception:
                log.exception("call observer %r failed", observer)

    def record(
        self,
        target: Target | None,
        usage: dict[str, Any] | None,
        cost: Decimal | None,
        error: BaseException | None,
        status: int | None = None,
    ) -> CallRecord:
        code: str | None = None
        if error is None:
            pass  # the common case, asked first: two isinstance calls less
        elif isinstance(error, GatewayError):
            code, status = error.code, status or error.status
        elif isinstance(error, asyncio.CancelledError):
            code, status = "invalid_request", status or 499  # the client left (what it would have been told)
        else:
            code = getattr(error, "code", None) or "internal_error"
            status = status or int(getattr(error, "status", 0) or 500)
        deployment = None
        if target is not None:
            for attempt in reversed(self.attempted.attempts):
                if attempt.outcome == "ok":
                    deployment = attempt.deployment
                    break
        # Positional, in ``CallRecord``'s field order (``replayed`` False, ``extra`` a new dict): a dataclass
        # called with sixteen keywords matches each name against its parameters, ≈ 10 k instructions a call.
        return CallRecord(
            self.endpoint,
            self.request_id,
            self.principal,
            self.requested,
            target.entry.id if target is not None else None,
            deployment,
            list(self.attempted.attempts),
            status or (200 if code is None else 500),
            code,
            self.streamed,
            self.first_token,
            time.perf_counter() - self.started,
            usage,
            cost,
            False,
            self.cache_status,
            {},
            self._counts(usage),
        )

    def _counts(self, usage: dict[str, Any] | None) -> tuple[int, int, int] | None:
        """``usage_counts(usage)`` as billing counted them, when it billed this very usage (an estimate
        replaces only a missing usage), so that the request log does not count them again."""
        billed = self.billed
        if billed is None or usage is None or usage is not self._billed_usage:
            return None
        return billed.prompt_tokens, billed.completion_tokens, billed.cached_tokens


# The ledger kind of an answer served from the cache: the call's kind and this (``chat.cache_hit``).
CACHE_HIT_SUFFIX = ".cache_hit"

# The data-plane paths, by the endpoint name their calls report.
ENDPOINTS = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "responses",
    "/v1/embeddings": "embeddings",
    "/v1/chat/compare": "compare",
    "/v1/messages": "messages",
}


def report_replay(state: GatewayState, path: str, principal: Principal, request_id: str, status: int) -> None:
    """An idempotent replay of a data-plane call: observers hear of it (nothing was called or billed)."""
    endpoint = ENDPOINTS.get(path)
    if endpoint is None or not state.call_observers:
        return
    record = CallRecord(
        endpoint=endpoint,
        request_id=request_id,
        principal=principal,
        requested_model=None,
        model=None,
        deployment=None,
        attempts=[],
        status=status,
        error_code=None,
        streamed=False,
        time_to_first_token=None,
        duration=0.0,
        usage=None,
        cost=None,
        replayed=True,
    )
    for observer in state.call_observers:
        try:
            observer.finished(record)
        except Exception:
            log.exception("call observer %r failed", observer)
