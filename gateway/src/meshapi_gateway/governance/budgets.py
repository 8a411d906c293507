"""Budgets in memory: spend and reservations per (key or team, period), checked without I/O.

A call reserves its worst-case cost against every budget it is subject to, all or none,
before it is sent; when it ends the reservation is replaced by what it really cost (or
simply dropped when it failed). So concurrent calls can never together spend more than a
budget: whatever is in flight is counted at its most.

In one process this is exact (the event loop runs one reservation at a time). Several
processes share budgets through Redis (``budgets_redis.py``); without it, each process
counts its own calls plus what the ledger says (``refresh.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Budget:
    """One budget a call is subject to, in the period the call falls in."""

    kind: str  # "key" or "team"
    id: str
    limit: Decimal
    period: str
    period_start: int
    resets_at: int | None
    # Where its counters are kept: (subject, period start); made once, read on every call.
    slot: tuple[str, int] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "slot", (f"{self.kind}:{self.id}", self.period_start))


@dataclass(slots=True)
class Hold:
    """What a call reserved, and where, so that its end settles exactly that."""

    budgets: tuple[Budget, ...]
    amount: Decimal
    shared: bool  # reserved in Redis (else in this process's memory)


@dataclass(slots=True)
class Refusal:
    budget: Budget
    spent: Decimal
    reserved: Decimal


class MemoryBudgets:
    def __init__(self) -> None:
        self.spent: dict[tuple[str, int], Decimal] = {}
        self.reserved: dict[tuple[str, int], Decimal] = {}

    def reserve(self, budgets: tuple[Budget, ...], amount: Decimal) -> Refusal | None:
        """Hold ``amount`` against every budget, or none of them: the first budget it would exceed."""
        if amount <= 0:
            return None  # free calls run at any spend, as free models do at any balance
        if len(budgets) == 1:  # a key's own budget, the common case: one look at each counter
            b = budgets[0]
            slot = b.slot
            spent, held = self.spent.get(slot, ZERO), self.reserved.get(slot, ZERO)
            if spent + held + amount > b.limit:
                return Refusal(b, spent, held)
            self.reserved[slot] = held + amount
            return None
        for b in budgets:
            spent, held = self.spent.get(b.slot, ZERO), self.reserved.get(b.slot, ZERO)
            if spent + held + amount > b.limit:
                return Refusal(b, spent, held)
        for b in budgets:
            self.reserved[b.slot] = self.reserved.get(b.slot, ZERO) + amount
        return None

    def settle(self, budgets: tuple[Budget, ...], amount: Decimal, actual: Decimal) -> None:
        for b in budgets:
            if amount > 0:
                left = self.reserved.get(b.slot, ZERO) - amount
                if left > 0:
                    self.reserved[b.slot] = left
                else:
                    self.reserved.pop(b.slot, None)
            if actual:
                self.spent[b.slot] = self.spent.get(b.slot, ZERO) + actual

    def at_least(self, slot: tuple[str, int], spent: Decimal) -> None:
        """What the ledger says was spent: counted when it is more than this process has seen."""
        if spent > self.spent.get(slot, ZERO):
            self.spent[slot] = spent

    def forget_before(self, subject_starts: dict[str, int]) -> None:
        """Drop the spend of periods that have ended (``subject_starts``: each subject's current start)."""
        for slot in [s for s in self.spent if s[1] < subject_starts.get(s[0], s[1]) and s not in self.reserved]:
            del self.spent[slot]
