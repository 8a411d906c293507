"""What a finished upstream call reports, and the billing interface the routes call.

The call layer calls ``precheck`` before a request (402 when the balance is gone) and ``record``
after it; ``record`` never waits on the database — the ledger is written in batches off
the request path by whichever ``Billing`` implementation is configured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Protocol

from meshapi_gateway.auth.principal import Principal
from meshapi_gateway.request_schemas import fallback_models

if TYPE_CHECKING:
    from meshapi_gateway.billing.book import BalanceBook
    from meshapi_gateway.catalog import ModelEntry

# Raises 402 ``spend_limit_exceeded`` when the caller may not spend on this candidate model.
Admit = Callable[["ModelEntry"], None]


# ``calls.metering.usage_record`` makes one a bill with its fields given in this order (positionally).
@dataclass(slots=True)
class UsageRecord:
    request_id: str
    owner: str
    key_id: str | None
    model: str
    provider: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost: Decimal
    kind: str = "chat"
    created_at: float = field(default_factory=time.time)
    team_id: str | None = None
    # ``cost`` in budget counter units (10^-10 USD, rounded as the ledger rounds) when billing made them
    # from integers (``billing.cost.cost_of``), so a budget settles without converting the Decimal.
    cost_units: int | None = None
    # ``float(cost)`` when billing made it from the same integers (``billing.cost.price``), for the usage metrics.
    cost_float: float | None = None


def usage_counts(usage: Any) -> tuple[int, int, int]:
    """(prompt, completion, cached) from an OpenAI-style usage object; zeros when absent."""
    if not isinstance(usage, dict):
        return 0, 0, 0
    # Read for every call (billing) and every logged request: a bound ``get``, and ``int`` called only
    # for a count an upstream sent as something else, cost about 1,100 instructions less a call.
    get = usage.get
    prompt = get("prompt_tokens") or get("input_tokens") or 0
    completion = get("completion_tokens") or get("output_tokens") or 0
    details = get("prompt_tokens_details") or get("input_tokens_details")
    cached = (details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    return (
        prompt if type(prompt) is int else int(prompt),
        completion if type(completion) is int else int(completion),
        cached if type(cached) is int else int(cached),
    )


def requested_model(body: dict[str, Any]) -> str | None:
    """The model a chat body asks for first (for ``precheck``: free models run at any balance)."""
    model = body.get("model")
    if isinstance(model, str) and model:
        return model
    models = fallback_models(body)
    if models and isinstance(models[0], str):
        return models[0]
    return None


class Billing(Protocol):
    """What the gateway asks of its billing; ``LedgerBilling`` is the one it runs with.

    Everything here is in memory on the request path (``precheck``, ``admission``,
    ``record``); the ledger is written in batches off it.
    """

    # Balances as this process sees them (committed + pending), for balance views.
    book: BalanceBook

    def precheck(self, principal: Principal, model: str | None = None) -> None:
        """Raise 402 ``spend_limit_exceeded`` when the owner may not spend; ``model`` lets free models pass."""
        ...

    def admission(self, principal: Principal) -> Admit | None:
        """The per-candidate balance check the router runs before trying each model.

        ``precheck`` looks at the model asked for; fallbacks (the request's ``models``, the
        catalog's chains) may be paid where the first model is free, so each one is admitted
        again just before it is tried. ``None`` means the owner may spend without bound.
        """
        ...

    def record(self, record: UsageRecord) -> None:
        """Queue a bill for the ledger and move the in-memory balance; never waits on the database."""
        ...

    async def record_in_transaction(self, session: Any, record: UsageRecord) -> Callable[[], None]:
        """Write ``record`` inside the caller's open transaction; call the result after it commits.

        For work that must not be billed unless its own result is stored (batch items),
        where a bill waiting in memory could be lost with the process.
        """
        ...

    async def flush(self) -> None:
        """Write everything recorded so far (usage queries call this to read their own writes)."""
        ...

    async def credit(self, owner: str, amount: Decimal, note: str = "") -> Decimal:
        """Credit an owner and make it visible to this process at once; returns the new balance."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...
