"""Metering after a call: its price from the catalog entry that answered, the ledger, the usage metrics.

Every endpoint bills through here, so every model call lands in one ledger with one pricing.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from meshapi_gateway import metrics
from meshapi_gateway.billing import UsageRecord, usage_counts
from meshapi_gateway.billing.cost import price

if TYPE_CHECKING:
    from meshapi_gateway.auth.principal import Principal
    from meshapi_gateway.billing import Billing
    from meshapi_gateway.providers.base import Target
    from meshapi_gateway.routing import Attempted


def usage_record(
    principal: Principal,
    request_id: str,
    target: Target,
    usage: dict[str, Any] | None,
    kind: str,
    multiplier: Decimal,
    estimated: tuple[int, int] | None = None,
) -> UsageRecord:
    """What one answered call costs, priced from the catalog entry of the model that answered."""
    prompt, completion, cached = usage_counts(usage)
    if usage is None and estimated is not None:
        prompt, completion = estimated
    entry = target.entry
    cost, units, amount = price(entry.pricing, prompt, completion, cached, multiplier)
    key = principal.key
    # Positional, in ``UsageRecord``'s field order: a dataclass called with a dozen keywords matches each
    # name against its parameters, about 2.4 k instructions more a bill than this (callgrind).
    return UsageRecord(
        request_id,
        principal.owner,
        principal.key_id,
        entry.id,
        target.deployment.provider or entry.provider,
        prompt,
        completion,
        cached,
        cost,
        kind,
        time.time(),
        key.team_id if key is not None else None,
        units,
        amount,
    )


def bill(billing: Billing, record: UsageRecord, *, store: bool = True) -> Decimal:
    """Count ``record`` in the metrics and (unless ``store`` is False) queue it for the ledger.

    ``store=False`` is for callers that write the ledger row themselves, in their own
    transaction (batch items: the bill and the item's result commit together).
    """
    if store:
        billing.record(record)
    amount = record.cost_float
    metrics.observe_usage(
        record.model,
        record.provider,
        record.prompt_tokens,
        record.completion_tokens,
        float(record.cost) if amount is None else amount,
    )
    return record.cost


def count_upstream_errors(attempted: Attempted) -> None:
    """Every failed attempt of a call in the upstream error metrics."""
    for model, err in zip(attempted.tried, attempted.errors, strict=False):
        metrics.UPSTREAM_ERRORS.labels(model, "", err.code).inc()
