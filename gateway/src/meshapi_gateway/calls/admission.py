"""Admission: what may refuse a call before it is routed, besides rate limits and the balance.

An ``AdmissionCheck`` is registered on ``GatewayState.admission_checks`` at start-up (key
budgets, model allowlists, team quotas …). For every call, after its plan is known:

1. ``admit(call)`` once, before anything is routed: raise a ``GatewayError`` to refuse the
   call, or reserve what the call may use (keep it on ``call.reserved``). Return ``False``
   when the check has nothing to do for this call (a key without terms): it is then left
   out of steps 2 and 3, which keeps the common call cheap. A check that admits may also
   ``clear`` the model ids its step 2 is known to let through for this call.
2. ``allow(call, entry)`` before each candidate model is tried (the request's fallbacks and
   the catalog's chains may differ from the model asked for): raise a ``GatewayError`` to
   skip that model; when nothing else answers, that refusal is the answer. The router is not
   given this step when every check cleared each of its candidates and none of them has
   context-window fallbacks (the only models the router adds): then it could refuse none of
   the models the router may try (``Call.candidate_admit``).
3. ``release(call, record)`` once, when the call has finished (answered, failed, or the
   client left), for every check whose ``admit`` returned: settle or free the reservation
   with the real usage and cost in ``record``.

A check that can decide most calls without waiting (no I/O) also overrides ``decide(call)``,
which the call asks first: it does what ``admit`` would, or returns ``PENDING`` to have
``admit`` awaited. A call decided there costs no coroutine.

The base class does nothing at each step, so a check overrides only what it needs. The
per-candidate step runs on the hot path: keep it to dictionary lookups.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from meshapi_gateway.calls.call import Call
    from meshapi_gateway.calls.record import CallRecord
    from meshapi_gateway.catalog import ModelEntry


class Pending(enum.Enum):
    PENDING = "pending"


# ``decide``'s answer when the call needs ``admit`` (it has to wait for something).
PENDING: Final = Pending.PENDING


class AdmissionCheck:
    def decide(self, call: Call) -> bool | Pending | None:
        return PENDING

    async def admit(self, call: Call) -> bool | None:
        return None

    def allow(self, call: Call, entry: ModelEntry) -> None:
        return None

    def release(self, call: Call, record: CallRecord) -> None:
        return None


def clear(call: Call, models: frozenset[str], sole: ModelEntry | None = None) -> None:
    """From ``decide`` or ``admit`` that admits ``call``: ``allow`` lets each of ``models`` through for it.

    Narrows what the checks admitted before cleared; a check that admits without clearing leaves
    nothing cleared (``Call.admit``). ``sole``: the catalog entry of one of ``models`` that has no
    context-window fallbacks, when the check knows the call's router is likely given it alone.
    """
    cleared = call.cleared
    if cleared is None:
        call.cleared, call.sole = models, sole
    else:
        call.cleared = cleared & models
        if sole is not call.sole:
            call.sole = None
