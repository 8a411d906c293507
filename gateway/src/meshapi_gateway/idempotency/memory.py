"""Finished idempotency answers in memory: the table a keyed request looks at instead of the database.

Memory is bounded two ways. Bodies count against ``body_budget`` bytes; past it the
oldest answers keep only their fingerprint and expiry (the body stays in the database,
read back only if that key is ever retried). Keys count against ``max_keys``; past it
the oldest keys are forgotten entirely, and until the last of them would have expired a
key missing here is looked up in the database (see ``forgotten``) — so the guarantees
hold, only slower, on a gateway that sees more keys a day than it keeps.

Entries are kept in insertion order, which is expiry order (one TTL for all), so
expired keys are swept from the front.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from meshapi_gateway.idempotency.store import StoredResponse

Slot = tuple[str, str]  # (owner, key hash)

# What one key costs besides its body: the tuple, two hex digests, the entry, the dict slot.
ENTRY_OVERHEAD_BYTES = 400


@dataclass(slots=True)
class Remembered:
    fingerprint: str
    expires_at: int
    response: StoredResponse | None  # None: the body was let go and lives in the database only
    size: int


def response_size(response: StoredResponse) -> int:
    return len(response.body) + sum(len(k) + len(v) for k, v in response.headers)


class MemoryTable:
    def __init__(self, body_budget: int, max_keys: int) -> None:
        self.body_budget = body_budget
        self.max_keys = max_keys
        self._entries: OrderedDict[Slot, Remembered] = OrderedDict()
        self._with_body: OrderedDict[Slot, None] = OrderedDict()
        self.body_bytes = 0
        self.forgotten_until = 0  # the latest expiry among keys dropped before their time

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, slot: Slot, now: int) -> Remembered | None:
        entry = self._entries.get(slot)
        if entry is not None and entry.expires_at <= now:
            self._drop(slot)
            return None
        return entry

    def forgotten(self, now: int) -> bool:
        """Whether a key missing here may still be remembered by the database."""
        return now < self.forgotten_until

    def put(self, slot: Slot, fingerprint: str, expires_at: int, response: StoredResponse) -> None:
        if slot in self._entries:
            self._drop(slot)
        size = response_size(response)
        self._entries[slot] = Remembered(fingerprint, expires_at, response, size)
        self._with_body[slot] = None
        self.body_bytes += size
        while self.body_bytes > self.body_budget and self._with_body:
            oldest, _ = self._with_body.popitem(last=False)
            entry = self._entries[oldest]
            self.body_bytes -= entry.size
            entry.response = None
        while len(self._entries) > self.max_keys:
            oldest, entry = next(iter(self._entries.items()))
            self.forgotten_until = max(self.forgotten_until, entry.expires_at)
            self._drop(oldest)

    def sweep(self, now: int) -> int:
        """Drop expired keys from the front; returns how many."""
        removed = 0
        while self._entries:
            slot, entry = next(iter(self._entries.items()))
            if entry.expires_at > now:
                break
            self._drop(slot)
            removed += 1
        return removed

    def _drop(self, slot: Slot) -> None:
        entry = self._entries.pop(slot)
        if slot in self._with_body:
            del self._with_body[slot]
            self.body_bytes -= entry.size
