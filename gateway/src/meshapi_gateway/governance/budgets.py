"""Budgets in memory: spend and reservations per (key or team, period), checked without I/O.

A call reserves its worst-case cost against every budget it is subject to, all or none,
before it is sent; when it ends the reservation is replaced by what it really cost (or
simply dropped when it failed). So concurrent calls can never together spend more than a
budget: whatever is in flight is counted at its most.

Counters are integers of 10^-10 USD (the ledger's precision, and the unit Redis keeps them
in), so a call reserves and settles with integer sums; amounts become ``Decimal`` only for
a refusal's message. A cost is counted rounded to that unit, as the ledger rounds it; a
reservation finer than it is rounded up, so it never holds less than the worst case.

In one process this is exact (the event loop runs one reservation at a time). Several
processes share budgets through Redis (``budgets_redis.py``); without it, each process
counts its own calls plus what the ledger says (``refresh.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

from meshapi_gateway.billing.cost import PLACES  # the counters' unit in USD: what ``units`` counts

# Units per USD, as a coefficient of 1 (a product with it only moves the exponent, so it stays exact).
PER_USD = Decimal(1).scaleb(PLACES)


def units(amount: Decimal) -> int:
    """``amount`` USD in counter units, rounded half to even (as the ledger's NUMERIC(20, 10) keeps it)."""
    return round(amount * PER_USD)


def units_up(amount: Decimal) -> int:
    """``amount`` USD in counter units, rounded up (a reservation never holds less than the amount)."""
    return int(amount.scaleb(PLACES).to_integral_value(rounding=ROUND_CEILING))


def usd(count: int) -> Decimal:
    """Counter units back in USD."""
    return Decimal(count).scaleb(-PLACES)


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
    # ``limit`` in counter units (exact: budgets have at most ten decimal places).
    limit_units: int = field(init=False, compare=False)
    # ``resets_at``, or infinity for a budget that never resets: one comparison tells a call it is stale
    # (a float, as ``time.time()`` is: an int on either side makes the comparison convert it).
    until: float = field(init=False, compare=False)
    # The budget alone, as the tuple a reservation takes: a key's own budget is reserved without making one.
    alone: tuple[Budget] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "slot", (f"{self.kind}:{self.id}", self.period_start))
        object.__setattr__(self, "limit_units", units(self.limit))
        object.__setattr__(self, "until", float("inf") if self.resets_at is None else float(self.resets_at))
        object.__setattr__(self, "alone", (self,))


# What a call reserved, and where, so that its end settles exactly that: (budgets, amount in units,
# reserved in Redis (else in this process's memory)). A tuple: one is made on every budgeted call.
Hold = tuple[tuple[Budget, ...], int, bool]


@dataclass(slots=True)
class Refusal:
    """The budget a reservation would exceed, with its counters (units) at that moment."""

    budget: Budget
    spent: int
    reserved: int


class Tally:
    """One budget's counters in one period (units): spent, and held by calls in flight.

    An object rather than two dictionary entries, so a call that keeps it (``KeyPlan``) reserves
    and settles without hashing the budget's slot again.
    """

    __slots__ = ("reserved", "spent")

    def __init__(self) -> None:
        self.spent = 0
        self.reserved = 0


class MemoryBudgets:
    def __init__(self) -> None:
        self.tallies: dict[tuple[str, int], Tally] = {}

    @property
    def spent(self) -> dict[tuple[str, int], int]:
        """Spend per slot (those with any)."""
        return {slot: t.spent for slot, t in self.tallies.items() if t.spent}

    @property
    def reserved(self) -> dict[tuple[str, int], int]:
        """Reservations per slot (those with any)."""
        return {slot: t.reserved for slot, t in self.tallies.items() if t.reserved}

    def tally(self, slot: tuple[str, int]) -> Tally:
        """The counters of ``slot``, made at their first use."""
        found = self.tallies.get(slot)
        if found is None:
            found = self.tallies[slot] = Tally()
        return found

    def reserve(self, budgets: tuple[Budget, ...], amount: int) -> Refusal | None:
        """Hold ``amount`` units against every budget, or none of them: the first budget it would exceed."""
        if amount <= 0:
            return None  # free calls run at any spend, as free models do at any balance
        if len(budgets) == 1:  # a key's own budget, the common case
            return self.reserve_one(budgets[0], amount)
        tallies = [self.tally(b.slot) for b in budgets]
        for b, t in zip(budgets, tallies, strict=True):
            if t.spent + t.reserved + amount > b.limit_units:
                return Refusal(b, t.spent, t.reserved)
        for t in tallies:
            t.reserved += amount
        return None

    def reserve_one(self, b: Budget, amount: int) -> Refusal | None:
        """``reserve`` against the one budget ``b``."""
        if amount <= 0:
            return None
        t = self.tally(b.slot)
        spent, held = t.spent, t.reserved
        if spent + held + amount > b.limit_units:
            return Refusal(b, spent, held)
        t.reserved = held + amount
        return None

    def settle_one(self, b: Budget, amount: int, actual: int) -> None:
        """``settle`` against the one budget ``b``."""
        settle_tally(self.tally(b.slot), amount, actual)

    def settle(self, budgets: tuple[Budget, ...], amount: int, actual: int) -> None:
        """Replace a reservation of ``amount`` units by the ``actual`` cost (units)."""
        for b in budgets:
            settle_tally(self.tally(b.slot), amount, actual)

    def at_least(self, slot: tuple[str, int], spent: Decimal) -> None:
        """What the ledger says was spent: counted when it is more than this process has seen."""
        counted = units(spent)
        t = self.tally(slot)
        if counted > t.spent:
            t.spent = counted

    def forget_before(self, subject_starts: dict[str, int]) -> None:
        """Drop the spend of periods that have ended (``subject_starts``: each subject's current start)."""
        tallies = self.tallies
        for slot in [s for s, t in tallies.items() if s[1] < subject_starts.get(s[0], s[1]) and not t.reserved]:
            del tallies[slot]


def settle_tally(t: Tally, amount: int, actual: int) -> None:
    """Replace a reservation of ``amount`` units in ``t`` by the ``actual`` cost (units)."""
    if amount > 0:
        left = t.reserved - amount
        t.reserved = left if left > 0 else 0
    if actual:
        t.spent += actual
