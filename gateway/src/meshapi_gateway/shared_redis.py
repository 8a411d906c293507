"""The Redis client a feature area starts with: one another area opened, or its own.

Its own module so that the areas that need Redis at start-up (reliability, idempotency)
import it and not each other.

Every client is made by ``open_redis``: its pool is bounded and a task that finds every
connection busy waits for one. redis-py's default pool instead raises "Too many
connections" past 100 connections checked out at once, which a burst of concurrent
requests reaches on a busy loop; each feature then took its Redis-down path (limits
open, budgets per process) while Redis was perfectly well.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshapi_gateway.state import GatewayState


# Connections per client and process, and how long a request waits for one before the
# feature's Redis-down path is taken.
POOL_SIZE = 100
POOL_WAIT_SECONDS = 5.0


def open_redis(url: str) -> Any:
    """A client on a blocking, bounded pool (closed with the client)."""
    import redis.asyncio as aioredis

    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=POOL_SIZE, timeout=POOL_WAIT_SECONDS, socket_timeout=2, socket_connect_timeout=2
    )
    return aioredis.Redis.from_pool(pool)


def redis_client(state: "GatewayState") -> tuple[Any, bool]:
    """The Redis client another area already opened, or a new one (and whether it is the caller's to close).

    The first area to ask opens it and closes it at its stop; areas that start later and stop
    earlier (reliability starts before idempotency and stops after it) share it.
    """
    if state.redis is not None:
        return state.redis, False
    state.redis = open_redis(state.settings.redis_url)
    return state.redis, True
