"""Choosing the limiter at start: Redis when ``redis_url`` is set, in-process otherwise."""

from __future__ import annotations

from meshapi_gateway.config import Settings
from meshapi_gateway.limits.base import Limiter
from meshapi_gateway.limits.memory import MemoryLimiter


async def build_limiter(settings: Settings) -> Limiter:
    if not settings.redis_url:
        return MemoryLimiter()
    from meshapi_gateway.limits.redis import RedisLimiter

    limiter = RedisLimiter(settings.redis_url)
    await limiter.ping()  # a wrong URL is a clear error at start, not a silent fail-open later
    return limiter
