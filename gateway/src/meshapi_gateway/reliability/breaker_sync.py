"""Sharing open circuits between gateway replicas through Redis.

Each replica keeps deciding locally (the hot path never waits on Redis). When a circuit
opens or closes here, the change is written to one Redis hash in the background; every
replica reads that hash every ``breaker_sync_seconds`` and adopts what the others saw.
So a failing upstream found by one replica is skipped by all of them within a fraction
of a second, and a successful probe anywhere closes it everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from meshapi_gateway.reliability.breaker import Breakers

log = logging.getLogger("meshapi_gateway.reliability")

OPEN_HASH = "meshapi:breakers:open"
# Entries whose cooldown ended this long ago are removed by whichever replica sees them.
STALE_AFTER = 3600.0


class RedisBreakerSync:
    def __init__(self, redis: Any, breakers: Breakers, interval: float) -> None:
        self.redis = redis
        self.breakers = breakers
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()

    def on_change(self, key: str, open_until: float, cooldown: float) -> None:
        task = asyncio.get_running_loop().create_task(self._write(key, open_until))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, key: str, open_until: float) -> None:
        try:
            if open_until:
                await self.redis.hset(OPEN_HASH, key, repr(open_until))
            else:
                await self.redis.hdel(OPEN_HASH, key)
        except Exception as exc:  # Redis down: this replica still protects itself
            log.warning("could not share breaker state: %s", exc)

    async def pull(self) -> None:
        raw = await self.redis.hgetall(OPEN_HASH)
        now = time.time()
        opened: dict[str, float] = {}
        stale: list[Any] = []
        for k, v in raw.items():
            key = k.decode() if isinstance(k, bytes) else str(k)
            try:
                until = float(v)
            except (TypeError, ValueError):
                continue
            if until < now - STALE_AFTER:
                stale.append(k)
            opened[key] = until
        self.breakers.apply_remote(opened)
        if stale:
            await self.redis.hdel(OPEN_HASH, *stale)

    async def _run(self) -> None:
        failing = False  # log once per outage, not every interval
        while True:
            try:
                await self.pull()
                if failing:
                    log.warning("shared breaker state is readable again")
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    log.warning("could not read shared breaker state (each replica now decides alone): %s", exc)
                failing = True
            await asyncio.sleep(self.interval)

    async def start(self) -> None:
        self.breakers.listeners.append(self.on_change)
        with contextlib.suppress(Exception):
            await self.pull()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.breakers.listeners.remove(self.on_change)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writes:
            await asyncio.wait(list(self._writes), timeout=2)
