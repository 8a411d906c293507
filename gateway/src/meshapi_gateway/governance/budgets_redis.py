"""Budgets shared by every gateway process through Redis: one Lua script reserves, one settles.

Amounts are integers of 10^-10 USD (the ledger's precision), added with ``HINCRBY``;
the comparison inside the script is exact below about 900 000 USD per budget (Lua's
numbers are doubles). Every budget key carries the same hash tag, so a call's key and
team budgets are reserved in one script also on Redis Cluster.

If Redis cannot be reached the call is reserved in this process's memory instead (and
settled there), with a warning: each process then enforces budgets on its own view.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from redis.exceptions import RedisError

from meshapi_gateway.governance.budgets import Budget, Hold, MemoryBudgets, Refusal, units

log = logging.getLogger("meshapi_gateway.governance")

PREFIX = "meshapi:{budget}:"
# A finished period's counters stay this long after it ends (then Redis drops them).
KEEP_SECONDS = 7 * 86400

# KEYS: budget hashes. ARGV: amount, ttl seconds (0 = none), then each budget's limit.
# Returns 0, or {index of the budget that would be exceeded, its spent, its reserved}.
RESERVE = """
local amount = tonumber(ARGV[1])
for i = 1, #KEYS do
  local spent = tonumber(redis.call('HGET', KEYS[i], 's') or '0')
  local held = tonumber(redis.call('HGET', KEYS[i], 'r') or '0')
  if spent + held + amount > tonumber(ARGV[2 + i]) then
    return {i, tostring(spent), tostring(held)}
  end
end
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'r', ARGV[1])
  if tonumber(ARGV[2]) > 0 then redis.call('EXPIRE', KEYS[i], ARGV[2]) end
end
return 0
"""

# KEYS: budget hashes. ARGV: reserved amount, actual cost.
SETTLE = """
for i = 1, #KEYS do
  local held = redis.call('HINCRBY', KEYS[i], 'r', -tonumber(ARGV[1]))
  if held < 0 then redis.call('HSET', KEYS[i], 'r', 0) end
  if tonumber(ARGV[2]) ~= 0 then redis.call('HINCRBY', KEYS[i], 's', ARGV[2]) end
end
return 0
"""

# KEYS: one budget hash. ARGV: spent per the ledger.
AT_LEAST = """
if tonumber(redis.call('HGET', KEYS[1], 's') or '0') < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 's', ARGV[1])
end
return 0
"""


def _key(b: Budget) -> str:
    subject, start = b.slot
    return f"{PREFIX}{subject}:{start}"


class RedisBudgets:
    def __init__(self, client: Any, memory: MemoryBudgets) -> None:
        self._redis = client
        self.memory = memory
        self._reserve = client.register_script(RESERVE)
        self._settle = client.register_script(SETTLE)
        self._at_least = client.register_script(AT_LEAST)

    async def reserve(self, budgets: tuple[Budget, ...], amount: int) -> tuple[Refusal | None, Hold]:
        """Hold ``amount`` units against every budget, or none of them (see ``MemoryBudgets.reserve``)."""
        if amount <= 0:
            return None, (budgets, amount, False)
        ends = [b.resets_at for b in budgets]
        ttl = (
            max(e for e in ends if e is not None) - min(b.period_start for b in budgets) + KEEP_SECONDS
            if all(e is not None for e in ends)
            else 0
        )
        try:
            out = await self._reserve(
                keys=[_key(b) for b in budgets], args=[amount, ttl, *[b.limit_units for b in budgets]]
            )
        except (RedisError, OSError):
            log.warning("budget reservation in Redis failed; reserving in this process only", exc_info=True)
            return self.memory.reserve(budgets, amount), (budgets, amount, False)
        if out == 0:
            return None, (budgets, amount, True)
        # Lua's numbers may come back in exponent form ("1e+15"): read as decimals, then counted.
        index, spent, held = (
            int(out[0]),
            int(Decimal(out[1].decode() if isinstance(out[1], bytes) else out[1])),
            int(Decimal(out[2].decode() if isinstance(out[2], bytes) else out[2])),
        )
        return Refusal(budgets[index - 1], spent, held), (budgets, 0, False)

    async def settle(self, hold: Hold, actual: int) -> None:
        """Replace a reservation by the ``actual`` cost (units)."""
        budgets, amount, shared = hold
        if not shared:
            self.memory.settle(budgets, amount, actual)
            return
        try:
            await self._settle(keys=[_key(b) for b in budgets], args=[amount, actual])
        except (RedisError, OSError):
            log.warning("settling a budget reservation in Redis failed; counted in this process only", exc_info=True)
            self.memory.settle(budgets, 0, actual)

    async def at_least(self, budget: Budget, spent: Decimal) -> None:
        await self._at_least(keys=[_key(budget)], args=[units(spent)])
