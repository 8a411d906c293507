"""Request statistics over time from the request log: counts, errors, tokens, cost and latency percentiles.

The console's overview charts need a time series the ledger cannot give (errors and latency are
only in the request log), and percentiles cannot be summed per bucket in SQL portably, so the
rows of the range are read (a few columns, at most ``MAX_ROWS`` of the newest) and bucketed here.
This is a control-plane read, never on a request's path.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meshapi_gateway.billing.queries import iso_ms
from meshapi_gateway.money import money
from meshapi_gateway.observability.log_store import LogFilter, log_conditions
from meshapi_gateway.store.request_log_tables import RequestLog

MAX_ROWS = 200_000
MAX_BUCKETS = 1000


@dataclass(slots=True)
class Tally:
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal(0)
    durations: list[float] = field(default_factory=list)

    def add(self, status: int, prompt: int, completion: int, cost: Decimal | None, duration: float) -> None:
        self.requests += 1
        self.errors += status >= 400
        self.prompt_tokens += prompt or 0
        self.completion_tokens += completion or 0
        if cost is not None:
            self.cost += cost
        self.durations.append(duration)

    def view(self) -> dict[str, Any]:
        ordered = sorted(self.durations)
        return {
            "requests": self.requests,
            "errors": self.errors,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": money(self.cost),
            "p50_ms": percentile(ordered, 50),
            "p99_ms": percentile(ordered, 99),
        }


def percentile(ordered: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an ascending list (``None`` for no values)."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil without floats drifting
    return round(ordered[int(rank) - 1], 3)


async def request_stats(
    session: AsyncSession, f: LogFilter, since_ms: int, until_ms: int, bucket_ms: int
) -> dict[str, Any]:
    flt = replace(f, since_ms=since_ms, until_ms=until_ms)
    stmt = (
        select(
            RequestLog.created_ms,
            RequestLog.model,
            RequestLog.requested_model,
            RequestLog.status,
            RequestLog.prompt_tokens,
            RequestLog.completion_tokens,
            RequestLog.cost,
            RequestLog.duration_ms,
        )
        .where(*log_conditions(flt))
        .order_by(RequestLog.created_ms.desc())
        .limit(MAX_ROWS + 1)
    )
    rows = (await session.execute(stmt)).all()
    truncated = len(rows) > MAX_ROWS
    first = since_ms - since_ms % bucket_ms
    buckets = [Tally() for _ in range((until_ms - 1 - first) // bucket_ms + 1)] if until_ms > first else []
    total = Tally()
    models: dict[str, Tally] = {}
    for created, model, requested, status, prompt, completion, cost, duration in rows[:MAX_ROWS]:
        values = (status, prompt, completion, cost, duration)
        total.add(*values)
        buckets[(created - first) // bucket_ms].add(*values)
        models.setdefault(model or requested or "(none)", Tally()).add(*values)
    return {
        "object": "request_stats",
        "since": iso_ms(since_ms),
        "until": iso_ms(until_ms),
        "bucket_seconds": bucket_ms // 1000,
        "truncated": truncated,
        "totals": total.view(),
        "buckets": [
            {"start": iso_ms(first + i * bucket_ms), "start_ms": first + i * bucket_ms, **b.view()}
            for i, b in enumerate(buckets)
        ],
        "models": sorted(
            ({"model": name, **t.view()} for name, t in models.items()), key=lambda m: (-m["requests"], m["model"])
        ),
    }
