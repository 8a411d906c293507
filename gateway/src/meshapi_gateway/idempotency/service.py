"""Idempotency keys in a running gateway: who runs a keyed request, who waits, who replays.

Within one process, a second request with a key that is still running waits for the
first (an in-memory future, no polling). Across replicas the database decides: the
second polls briefly and answers 409 if the first is still running after
``WAIT_SECONDS``. Only successful (2xx), complete answers are remembered; a failed or
abandoned attempt releases its key so the retry runs anew (nothing was billed for it,
except the tokens an interrupted stream had already produced).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from typing import TYPE_CHECKING, Awaitable, Callable

from meshapi_gateway.errors import GatewayError
from meshapi_gateway.idempotency.store import IdempotencyStore, StoredResponse

if TYPE_CHECKING:
    from meshapi_gateway.state import GatewayState

log = logging.getLogger("meshapi_gateway.idempotency")

WAIT_SECONDS = 10.0
PURGE_EVERY_SECONDS = 600.0
MAX_KEY_LENGTH = 255


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


class IdempotencyService:
    def __init__(self, store: IdempotencyStore, max_body_bytes: int) -> None:
        self.store = store
        self.max_body_bytes = max_body_bytes
        self._running: dict[tuple[str, str], asyncio.Future[None]] = {}

    async def begin(self, owner: str, hashed: str, fingerprint: str) -> StoredResponse | None:
        """None when this request owns the key and must run; otherwise the answer to replay."""
        loop = asyncio.get_running_loop()
        slot = (owner, hashed)
        deadline = loop.time() + WAIT_SECONDS
        pause = 0.05
        while True:
            waiting = self._running.get(slot)
            if waiting is not None:
                await asyncio.shield(waiting)
                continue
            mine: asyncio.Future[None] = loop.create_future()
            self._running[slot] = mine
            try:
                claim = await self.store.claim(owner, hashed, fingerprint, int(time.time()))
            except BaseException:
                self._settle(slot)
                raise
            if claim.outcome == "claimed":
                return None
            self._settle(slot)
            if claim.outcome == "done":
                return claim.response
            if claim.outcome == "mismatch":
                raise GatewayError("unprocessable_entity",
                                   "This Idempotency-Key was already used for a different request.", status=422)
            if loop.time() >= deadline:  # running on another replica
                raise GatewayError("conflict", "A request with this Idempotency-Key is still in progress.",
                                   retry_after_seconds=1)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    async def finish(self, owner: str, hashed: str, response: StoredResponse | None) -> None:
        """Remember the answer (or release the key when there is none worth remembering)."""
        slot = (owner, hashed)
        try:
            if response is not None:
                await self.store.complete(owner, hashed, response)
            else:
                await self.store.release(owner, hashed)
        except Exception:
            log.exception("could not record the outcome of an idempotent request")
        finally:
            self._settle(slot)

    def _settle(self, slot: tuple[str, str]) -> None:
        fut = self._running.pop(slot, None)
        if fut is not None and not fut.done():
            fut.set_result(None)


async def start_idempotency(state: "GatewayState") -> Callable[[], Awaitable[None]]:
    s = state.settings
    store = IdempotencyStore(state.sessions, s.idempotency_ttl_seconds,
                             stale_after=int(max(600.0, s.upstream_total_timeout * 2)))
    state.services["idempotency"] = IdempotencyService(store, s.idempotency_max_body_bytes)

    async def purge_forever() -> None:
        while True:
            try:
                removed = await store.purge(int(time.time()))
                if removed:
                    log.info("removed %d expired idempotency keys", removed)
            except Exception as exc:
                log.warning("could not purge idempotency keys: %s", exc)
            await asyncio.sleep(PURGE_EVERY_SECONDS)

    task = asyncio.get_running_loop().create_task(purge_forever())

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop
