"""The in-memory balance view that ``precheck`` reads, so refusing a request costs no I/O.

``committed`` is what the database last said (read at start, after each batch this process
writes, and by a periodic refresh that sees other replicas and the CLI); ``pending`` is
what this process has recorded but not yet written; ``remote`` is what other replicas
have (when balances are shared through Redis). Available = committed - pending - remote.
Owners without an account are unlimited unless billing is enforced, in which case they
start at ``default_credit_usd``.
"""

from __future__ import annotations

from decimal import Decimal

ZERO = Decimal(0)


class BalanceBook:
    def __init__(self, enforce: bool, default_credit: Decimal) -> None:
        self.enforce = enforce
        self.default_credit = default_credit
        self.committed: dict[str, Decimal] = {}
        self.pending: dict[str, Decimal] = {}
        # Other replicas' unwritten spend, when they share it through Redis (shared_pending.py).
        self.remote: dict[str, Decimal] = {}

    def available(self, owner: str) -> Decimal | None:
        """USD the owner may still spend; ``None`` = no account and not enforced (unlimited)."""
        committed = self.committed.get(owner)
        if committed is None:
            if not self.enforce:
                return None
            committed = self.default_credit
        return committed - self.pending.get(owner, ZERO) - self.remote.get(owner, ZERO)

    def add_pending(self, owner: str, cost: Decimal) -> None:
        if cost:
            self.pending[owner] = self.pending.get(owner, ZERO) + cost

    def settle_pending(self, owner: str, cost: Decimal) -> None:
        """A written batch: its cost is now part of ``committed`` (or was a duplicate)."""
        if not cost:
            return
        left = self.pending.get(owner, ZERO) - cost
        if left:
            self.pending[owner] = left
        else:
            self.pending.pop(owner, None)

    def set_committed(self, owner: str, balance: Decimal) -> None:
        self.committed[owner] = balance
