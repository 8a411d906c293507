"""The Redis client a feature area starts with: one another area opened, or its own.

Its own module so that the areas that need Redis at start-up (reliability, idempotency)
import it and not each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshapi_gateway.state import GatewayState


def redis_client(state: "GatewayState") -> tuple[Any, bool]:
    """The Redis client another area already opened, or a new one (and whether it is the caller's to close).

    The first area to ask opens it and closes it at its stop; areas that start later and stop
    earlier (reliability starts before idempotency and stops after it) share it.
    """
    if state.redis is not None:
        return state.redis, False
    import redis.asyncio as aioredis

    state.redis = aioredis.from_url(state.settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    return state.redis, True
