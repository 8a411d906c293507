"""The record of one data-plane HTTP request: what the HTTP layer saw, and the calls it made.

``RequestContext`` opens a record for every data-plane path and keeps it in a context
variable. Authentication notes the owner and key, the error envelope and SSE error frames
the error code, and every call finished on the request's task (``calls/``: attempts, the
answering model, tokens, cost) is attached by ``attach_call``, an observer of the call layer.
When the answer has gone out the record is complete: metrics, the access log and the
request log read it then. A request outside a data-plane path has no record, and every note
is then a no-op. A call made outside any request (a batch item, run by the batch runner)
becomes a record of its own (``standalone``), which the request log keeps.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Iterable

from meshapi_gateway.billing.usage import usage_counts
from meshapi_gateway.observability.attempts_json import attempts_json

if TYPE_CHECKING:
    from meshapi_gateway.auth.principal import Principal
    from meshapi_gateway.calls import CallRecord
    from meshapi_gateway.observability.trace_context import TraceContext

# The paths whose requests leave a record (the data plane: calls that reach a model or a tool).
DATA_PLANE_PATHS = frozenset(
    {
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/embeddings",
        "/v1/chat/compare",
        "/v1/web/search",
        "/v1/messages",
    }
)

MAX_MODEL_NAME = 200


@dataclass(slots=True)
class RequestRecord:
    # The fields ``RequestContext`` sets come first, so that it passes them by position: every
    # request makes a record, and keywords cost it ≈ 2 k instructions more (7.5 k against 5.4 k).
    request_id: str
    endpoint: str  # the path
    method: str = "POST"
    client_address: str | None = None
    user_agent: str | None = None
    started: float = field(default_factory=time.time)  # wall clock, seconds
    owner: str | None = None
    key_id: str | None = None
    team: str | None = None
    asked_model: str | None = None  # the model asked for, noted even when no call was made (404)
    status: int = 0
    error_code: str | None = None
    duration: float = 0.0  # seconds, from the request's arrival to the end of the answer
    cache_status: str | None = None  # "hit", "miss", "bypass" from the response cache (cache/); None: not asked
    calls: list[CallRecord] = field(default_factory=list)
    request_body: bytes | None = None  # raw, kept only when the request log stores bodies
    response_body: bytes | None = None
    response_sse: bool = False
    finish_reasons: list[str] = field(default_factory=list)
    trace: TraceContext | None = None  # only when tracing is on

    # -- what the calls add up to ----------------------------------------------------------------
    @property
    def requested_model(self) -> str | None:
        return next((c.requested_model for c in self.calls if c.requested_model), self.asked_model)

    @property
    def model(self) -> str | None:
        """The model that answered (the last call's, e.g. a compare's judge)."""
        for c in reversed(self.calls):  # a loop, not a generator: read for every request's metrics
            if c.model:
                return c.model
        return None

    @property
    def deployment(self) -> str | None:
        return next((c.deployment for c in reversed(self.calls) if c.deployment), None)

    @property
    def streamed(self) -> bool:
        return any(c.streamed for c in self.calls)

    @property
    def replayed(self) -> bool:
        return any(c.replayed for c in self.calls)

    @property
    def time_to_first_token(self) -> float | None:
        for c in self.calls:
            if c.time_to_first_token is not None:
                return c.time_to_first_token
        return None

    def tokens(self) -> tuple[int, int, int]:
        """Prompt, completion and cached tokens over every call."""
        prompt = completion = cached = 0
        for c in self.calls:
            p, o, k = c.counts or usage_counts(c.usage)
            prompt, completion, cached = prompt + p, completion + o, cached + k
        return prompt, completion, cached

    @property
    def cost(self) -> Decimal | None:
        costs = [c.cost for c in self.calls if c.cost is not None]
        return sum(costs, Decimal(0)) if costs else None

    def attempts(self) -> list[dict[str, Any]]:
        return [
            {
                "model": a.model,
                "deployment": a.deployment,
                "outcome": a.outcome,
                "duration_ms": round(a.duration * 1000, 2),
            }
            for c in self.calls
            for a in c.attempts
        ]


# The request log's copy of a finished record, waiting for its batch (``pending``): a tuple, in this
# order, of request_id, started, owner, key_id, team, endpoint, requested model, model, deployment,
# attempts (their JSON, or None: the one attempt is the next four), attempt model, attempt
# deployment, attempt outcome, attempt duration, status, error_code, streamed, time to first token,
# duration, prompt, completion and cached tokens, cost, replayed, cache_status, client_address,
# user_agent, request_body, response_body, response_sse.
Pending = tuple[Any, ...]


def pending(rec: RequestRecord) -> Pending:
    """What the request log's row needs of ``rec``, held as plain values only, for its wait in the queue.

    A record waits for its batch a flush interval or more. Held as itself it kept six objects in
    the collector's young generation (the record, its call and attempt, three lists): at the
    bench's load a young collection of 4-5 ms every ≈ 3,500 requests, and a gen-1 one of 4-7 ms
    after every seventh. A tuple of strings, numbers, bytes, ``Decimal`` and ``None`` is one
    object, and the first collection that meets it stops tracking it (it never reaches gen 1); a
    dict of the same values is never tracked but costs about five times as much to make. The
    common record (one call, one attempt) keeps its attempt as four values, its JSON made by the
    writer; any other has its figures summed and its attempts' JSON made here (rare: fallbacks,
    compares, answers without an upstream call).
    """
    calls = rec.calls
    # Two tuples written out, not one made from locals each branch sets: ≈ 0.5 k instructions a record less.
    if len(calls) == 1 and len(calls[0].attempts) == 1:
        c = calls[0]
        a = c.attempts[0]
        prompt, completion, cached = c.counts or usage_counts(c.usage)
        return (
            rec.request_id,
            rec.started,
            rec.owner,
            rec.key_id,
            rec.team,
            rec.endpoint,
            c.requested_model or rec.asked_model,
            c.model,
            c.deployment,
            None,
            a.model,
            a.deployment,
            a.outcome,
            a.duration,
            rec.status,
            rec.error_code,
            c.streamed,
            c.time_to_first_token,
            rec.duration,
            prompt,
            completion,
            cached,
            c.cost,
            c.replayed,
            rec.cache_status,
            rec.client_address,
            rec.user_agent,
            rec.request_body,
            rec.response_body,
            rec.response_sse,
        )
    prompt, completion, cached = rec.tokens()
    return (
        rec.request_id,
        rec.started,
        rec.owner,
        rec.key_id,
        rec.team,
        rec.endpoint,
        rec.requested_model,
        rec.model,
        rec.deployment,
        attempts_json(rec),
        None,
        None,
        None,
        0.0,
        rec.status,
        rec.error_code,
        rec.streamed,
        rec.time_to_first_token,
        rec.duration,
        prompt,
        completion,
        cached,
        rec.cost,
        rec.replayed,
        rec.cache_status,
        rec.client_address,
        rec.user_agent,
        rec.request_body,
        rec.response_body,
        rec.response_sse,
    )


current: ContextVar[RequestRecord | None] = ContextVar("meshapi_request_record", default=None)


def note_error(code: str) -> None:
    """The error code the client is told (the last one told wins: a stream's error frame after a 200)."""
    rec = current.get()
    if rec is not None:
        rec.error_code = code


def note_finish_reasons(reasons: list[object]) -> None:
    rec = current.get()
    if rec is not None:
        rec.finish_reasons.extend(r for r in reasons if isinstance(r, str))


def note_choice_finish_reasons(choices: Iterable[Any]) -> None:
    """``note_finish_reasons`` for an answer's choices, read in one pass (every plain answer comes here)."""
    rec = current.get()
    if rec is not None:
        for choice in choices:
            if isinstance(choice, dict):
                reason = choice.get("finish_reason")
                if isinstance(reason, str):
                    rec.finish_reasons.append(reason)


def trace_header() -> str | None:
    """The ``traceparent`` for an upstream request of the current request (None when tracing is off)."""
    rec = current.get()
    if rec is None or rec.trace is None:
        return None
    return rec.trace.child_header()


def note_requested_model(model: object) -> None:
    rec = current.get()
    if rec is not None and rec.asked_model is None and isinstance(model, str):
        rec.asked_model = model[:MAX_MODEL_NAME]


def note_principal(principal: Principal) -> None:
    rec = current.get()
    if rec is not None:
        rec.owner = principal.owner
        rec.key_id = principal.key_id
        key = principal.key
        rec.team = getattr(key, "team_id", None) if key is not None else None


class AttachCall:
    """The call layer's observer that hands each finished call to the record of its request, and, with
    ``outside`` set (the request log), each call made outside any request to ``outside`` as a record of its
    own (``standalone``): one observer for both, as both ask ``current`` first (≈ 0.6 k instructions a call
    less than a second observer doing so)."""

    __slots__ = ("outside",)

    def __init__(self, outside: Callable[[RequestRecord], None] | None = None) -> None:
        self.outside = outside

    def finished(self, record: CallRecord) -> None:
        rec = current.get()
        if rec is not None:
            rec.calls.append(record)
            if record.cache is not None:
                rec.cache_status = record.cache
            if rec.owner is None:
                note_principal(record.principal)
        elif self.outside is not None:
            self.outside(standalone(record))


# The endpoint a call made outside any request is logged under, by the endpoint name it reports.
BACKGROUND_ENDPOINTS = {"batch": "/v1/batches"}


def standalone(call: CallRecord) -> RequestRecord:
    """The record of a call made outside any request: the call is the whole of it."""
    principal = call.principal
    key = principal.key
    return RequestRecord(
        request_id=call.request_id,
        endpoint=BACKGROUND_ENDPOINTS.get(call.endpoint, call.endpoint),
        started=time.time() - call.duration,
        owner=principal.owner,
        key_id=principal.key_id,
        team=getattr(key, "team_id", None) if key is not None else None,
        asked_model=call.requested_model,
        status=call.status,
        error_code=call.error_code,
        duration=call.duration,
        cache_status=call.cache,
        calls=[call],
    )
