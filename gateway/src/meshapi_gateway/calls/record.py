"""What a finished call reports, and the observers that receive it (request logs, tracing, …).

An observer is registered on ``GatewayState.call_observers`` at start-up. ``finished`` is
called once per call, on the request's task, after the answer (or its last frame) has been
produced: it must not block; anything slow (a database write, an export) goes to a queue
of its own (see ``write_behind.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from meshapi_gateway.auth.principal import Principal
    from meshapi_gateway.routing import AttemptRecord


# ``Call.record`` (calls/call.py) makes one a call with its fields given in this order (positionally).
@dataclass(slots=True)
class CallRecord:
    endpoint: str  # "chat", "responses", "embeddings", "compare", "batch", …
    request_id: str
    principal: Principal
    requested_model: str | None
    model: str | None  # the model that answered (None when none did)
    deployment: str | None  # its deployment, ``<model id>#<index>``
    attempts: list[AttemptRecord]
    status: int  # the HTTP status of the call's answer (200, or its error's)
    error_code: str | None
    streamed: bool
    time_to_first_token: float | None  # seconds, streams only
    duration: float  # seconds, from admission to the end of the answer
    usage: dict[str, Any] | None
    cost: Decimal | None
    replayed: bool = False  # an idempotent replay: nothing was called or billed
    cache: str | None = None  # "hit", "miss", "bypass" when the response cache was asked (cache/)
    extra: dict[str, Any] = field(default_factory=dict)
    # ``usage_counts(usage)`` when billing counted them already (None: count them from ``usage``).
    counts: tuple[int, int, int] | None = None


class CallObserver(Protocol):
    def finished(self, record: CallRecord) -> None:
        """One finished call; must return at once (queue anything slow)."""
