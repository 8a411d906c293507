"""Where cached answers live: this process's memory (LRU, bounded in bytes) or Redis (shared by processes).

Both keep an expiry per entry; an expired entry is never served. Values are opaque bytes
(``service.py`` encodes them).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

log = logging.getLogger("meshapi_gateway.cache")

# What an entry costs besides its value (key, tuple, dict slot), so many tiny entries stay bounded too.
ENTRY_OVERHEAD = 200


class AnswerStore(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: int) -> None: ...

    async def aclose(self) -> None: ...


class MemoryStore:
    """Least recently used entries go first once ``max_bytes`` is reached."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get_now(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if expires <= time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def get(self, key: str) -> bytes | None:
        return self.get_now(key)

    def _drop(self, key: str) -> None:
        found = self._entries.pop(key, None)
        if found is not None:
            self.size -= len(found[1]) + len(key) + ENTRY_OVERHEAD

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        cost = len(value) + len(key) + ENTRY_OVERHEAD
        if cost > self.max_bytes:
            return  # larger than the whole cache: keeping it would evict everything else
        self._drop(key)
        self._entries[key] = (time.monotonic() + ttl, value)
        self.size += cost
        while self.size > self.max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    async def aclose(self) -> None:
        self._entries.clear()
        self.size = 0


class RedisStore:
    """Entries under ``meshapi:cache:<key>`` with Redis's own expiry; a Redis failure is a miss, never an error."""

    PREFIX = "meshapi:cache:"

    def __init__(self, client: Any, owned: bool) -> None:
        self.client = client
        self.owned = owned

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self.client.get(self.PREFIX + key)
        except Exception as exc:  # the answer is still served from upstream
            log.warning("cache read from Redis failed: %s", type(exc).__name__)
            return None
        return bytes(value) if value is not None else None

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        try:
            await self.client.set(self.PREFIX + key, value, ex=ttl)
        except Exception as exc:
            log.warning("cache write to Redis failed: %s", type(exc).__name__)

    async def aclose(self) -> None:
        if self.owned:
            await self.client.aclose()
