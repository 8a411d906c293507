"""Seeding budget counters from the ledger, off the request path; the governance start hook.

At start and every ``REFRESH_SECONDS`` the spend of every budgeted key and team in its
current period is summed from the ledger and counted where it is more than the counters
hold: spend recorded before this process started, by processes that do not share Redis,
or before a budget was set. Since the ledger lags what was billed, the counters are never
lowered by it. Each refresh sums the whole period's rows of every budgeted key, so it runs
seldom; the counters themselves move with every call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Awaitable, Callable

from sqlalchemy import func, select

from meshapi_gateway.governance.admission import KeyGovernance, key_budget, make_budget
from meshapi_gateway.governance.budgets import Budget, MemoryBudgets
from meshapi_gateway.governance.team_cache import TeamCache
from meshapi_gateway.store.accounts_tables import LedgerEntry

if TYPE_CHECKING:
    from meshapi_gateway.state import GatewayState

log = logging.getLogger("meshapi_gateway.governance")
CHUNK = 500
REFRESH_SECONDS = 30.0


async def ledger_sums(state: GatewayState, budgets: list[Budget]) -> dict[tuple[str, int], Decimal]:
    """Each budget's spend from the ledger, one query per kind and period start (and chunk of ids)."""
    groups: dict[tuple[str, int], list[str]] = defaultdict(list)
    for b in budgets:
        groups[(b.kind, b.period_start)].append(b.id)
    out: dict[tuple[str, int], Decimal] = {}
    async with state.sessions() as session:
        for (kind, start), ids in groups.items():
            column = LedgerEntry.team_id if kind == "team" else LedgerEntry.key_id
            for i in range(0, len(ids), CHUNK):
                stmt = (
                    select(column, func.sum(LedgerEntry.cost_usd))
                    .where(column.in_(ids[i : i + CHUNK]), LedgerEntry.created_at >= start * 1000)
                    .group_by(column)
                )
                for subject, total in (await session.execute(stmt)).all():
                    out[(f"{kind}:{subject}", start)] = Decimal(total or 0)
    return out


class BudgetRefresher:
    def __init__(self, state: GatewayState, check: KeyGovernance) -> None:
        self._state = state
        self._check = check
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        now = time.time()
        budgets = [b for b in (key_budget(k, now) for k in self._state.key_cache.budgeted()) if b is not None]
        teams = self._check.teams.all() if self._check.teams is not None else []
        budgets += [
            make_budget("team", t.id, t.budget_usd, t.budget_period, now) for t in teams if t.budget_usd is not None
        ]
        if not budgets:
            return
        sums = await ledger_sums(self._state, budgets)
        memory: MemoryBudgets = self._check.memory
        for b in budgets:
            spent = sums.get(b.slot)
            if spent is None:
                continue
            memory.at_least(b.slot, spent)
            if self._check.shared is not None:
                await self._check.shared.at_least(b, spent)
        memory.forget_before({f"{b.kind}:{b.id}": b.period_start for b in budgets})

    async def _loop(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await self.refresh()
            except Exception:  # the database or Redis may be briefly away; the counters keep counting
                log.warning("budget refresh failed", exc_info=True)

    async def start(self) -> None:
        try:
            await self.refresh()
        except Exception:
            log.warning("budget refresh failed at start", exc_info=True)
        self._task = asyncio.create_task(self._loop(REFRESH_SECONDS), name="budget-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def start_governance(state: GatewayState) -> Callable[[], Awaitable[None]]:
    """Start hook: the team cache, the key-terms admission check, its budget counters and their refresher."""
    shared = None
    client = None
    owned = False
    if state.settings.redis_url:
        from meshapi_gateway.governance.budgets_redis import RedisBudgets
        from meshapi_gateway.shared_redis import redis_client

        client, owned = redis_client(state)
        memory = MemoryBudgets()
        shared = RedisBudgets(client, memory)
    else:
        memory = MemoryBudgets()
    teams = TeamCache(state.sessions, state.settings.key_cache_refresh_seconds, state.data_version)
    await teams.start()
    state.team_cache = teams
    check = KeyGovernance(memory, shared, teams)
    state.admission_checks.append(check)
    refresher = BudgetRefresher(state, check)
    await refresher.start()

    async def stop() -> None:
        await refresher.stop()
        await teams.stop()
        await check.aclose()
        if owned and client is not None:
            await client.aclose()

    return stop
