"""Template lookups for chat requests without a database round trip per request.

Each (viewer, reference) is looked up once and kept for ``ttl`` seconds, found or not.
A change made through this process clears the cache at once; a change made through
another replica is seen within ``ttl`` (docs/accounts.md).
"""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import async_sessionmaker

from meshapi_gateway.templates import store
from meshapi_gateway.templates.render import Template
from meshapi_gateway.templates.store import Viewer

MAX_ENTRIES = 50_000


class TemplateCache:
    def __init__(self, sessions: async_sessionmaker, ttl: float = 5.0) -> None:  # type: ignore[type-arg]
        self._sessions = sessions
        self._ttl = ttl
        self._entries: dict[tuple[Viewer, str], tuple[float, Template | None]] = {}

    def invalidate(self) -> None:
        self._entries.clear()

    async def resolve(self, viewer: Viewer, ref: str) -> Template | None:
        key = (viewer, ref)
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self._sessions() as session:
            found = await store.find(session, viewer, ref)
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        if self._ttl > 0:
            self._entries[key] = (now + self._ttl, found)
        return found
