"""The Redis client a feature area starts with: one another area opened, or its own.

Its own module so that the areas that need Redis at start-up (reliability, idempotency)
import it and not each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshapi_gateway.state import GatewayState


def redis_client(state: "GatewayState") -> tuple[Any, bool]:
    """The Redis client another area already opened, or a small one of our own (and whether it is ours)."""
    shared = state.services.get("redis")
    if shared is not None:
        return shared, False
    import redis.asyncio as aioredis

    return aioredis.from_url(state.settings.redis_url, socket_timeout=2, socket_connect_timeout=2), True
