"""Which idempotency claim the current request runs under, for the ledger journal.

A request with an ``Idempotency-Key`` runs under a claim (``idempotency/shared.py``). If its
process is killed after the bill was journaled but before the answer reached the client, the
client retries with the same key, another replica takes the claim over and runs (and bills)
again. The journal keeps the claim beside the bill, so that the replay of a dead process's
journal can tell a bill whose answer was superseded by a retry (dropped) from one whose answer
was delivered (written). Its own module so that billing and idempotency share it without
importing each other.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Literal, NamedTuple


class Claim(NamedTuple):
    owner: str
    key_hash: str
    token: str  # the claiming attempt's marker token


CURRENT: ContextVar[Claim | None] = ContextVar("meshapi_attempt_claim", default=None)

# What became of a journaled bill's attempt: bill it, drop it (a retry superseded its answer),
# or wait (nobody retried yet, and the client may yet do so).
Fate = Literal["bill", "void", "wait"]
