"""Balances shared by replicas through Redis: each replica publishes its unwritten spend.

The database stays the truth for balances; what replicas cannot see there is what another
replica has recorded but not yet written (and what it wrote since this replica last read
the ``balances`` table). So every replica publishes, per owner, its pending spend plus the
spend it committed within the last balance-refresh interval, in a Redis hash
``meshapi:pending:{owner}`` (one field per replica, value ``"<usd>:<unix time>"``), and
reads the other replicas' fields for the owners it serves. A replica's view of another's
spending is then at most one sync interval old instead of a flush plus a refresh.

Counting a just-committed cost both from the database and from Redis for a moment errs on
the safe side (a little less available, for at most the refresh interval). Fields of a
replica that stopped publishing are ignored after ``STALE_SECONDS``.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import defaultdict, deque
from decimal import Decimal

from redis.exceptions import RedisError

from meshapi_gateway.billing.book import ZERO, BalanceBook
from meshapi_gateway.shared_redis import open_redis

log = logging.getLogger("meshapi_gateway.billing")

STALE_SECONDS = 10.0
WATCH_SECONDS = 60.0  # an owner not seen for this long is no longer read
KEY_TTL_SECONDS = 60


def _key(owner: str) -> str:
    return "meshapi:pending:{" + owner + "}"


class SharedPending:
    def __init__(self, url: str, book: BalanceBook, hold_seconds: float) -> None:
        self._redis = open_redis(url)
        self._replica = secrets.token_hex(8)
        self._book = book
        self._hold = hold_seconds
        self._recent: deque[tuple[float, str, Decimal]] = deque()
        self._published: set[str] = set()
        self._watched: dict[str, float] = {}

    def watch(self, owner: str) -> None:
        """``owner`` is served here: read the other replicas' spend for it from now on."""
        self._watched[owner] = time.monotonic()

    def committed(self, owner: str, cost: Decimal) -> None:
        if cost:
            self._recent.append((time.monotonic(), owner, cost))

    def _outgoing(self, now: float) -> dict[str, Decimal]:
        while self._recent and self._recent[0][0] < now - self._hold:
            self._recent.popleft()
        out: dict[str, Decimal] = defaultdict(Decimal)
        for _, owner, cost in self._recent:
            out[owner] += cost
        for owner, cost in self._book.pending.items():
            out[owner] += cost
        return out

    async def sync(self) -> None:
        now, wall = time.monotonic(), time.time()
        outgoing = {o: v for o, v in self._outgoing(now).items() if v > 0}
        for owner in [o for o, seen in self._watched.items() if seen < now - WATCH_SECONDS]:
            del self._watched[owner]
            self._book.remote.pop(owner, None)
        watched = list(self._watched)
        pipe = self._redis.pipeline(transaction=False)
        for owner, value in outgoing.items():
            pipe.hset(_key(owner), self._replica, f"{value}:{wall}")
            pipe.expire(_key(owner), KEY_TTL_SECONDS)
        for owner in self._published - set(outgoing):
            pipe.hdel(_key(owner), self._replica)
        for owner in watched:
            pipe.hgetall(_key(owner))
        try:
            results = await pipe.execute()
        except RedisError:
            log.warning("balance sync skipped: Redis is unreachable", exc_info=True)
            return
        self._published = set(outgoing)
        mine = self._replica.encode()
        for owner, fields in zip(watched, results[len(results) - len(watched) :], strict=True):
            total = ZERO
            for replica, raw in fields.items():
                if replica == mine:
                    continue
                value, _, stamp = raw.decode().partition(":")
                if stamp and float(stamp) > wall - STALE_SECONDS:
                    total += Decimal(value)
            if total:
                self._book.remote[owner] = total
            else:
                self._book.remote.pop(owner, None)

    async def aclose(self) -> None:
        try:
            if self._published:
                pipe = self._redis.pipeline(transaction=False)
                for owner in self._published:
                    pipe.hdel(_key(owner), self._replica)
                await pipe.execute()
        except RedisError:
            log.warning("could not withdraw published balances from Redis", exc_info=True)
        await self._redis.aclose()
