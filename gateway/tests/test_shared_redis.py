"""The gateway's Redis clients under a burst: more commands in flight than the pool has connections
wait for a free one instead of failing (which sent limits and budgets down their Redis-down paths).
"""

from __future__ import annotations

import asyncio

from meshapi_gateway.shared_redis import POOL_SIZE, open_redis


def test_a_burst_beyond_the_pool_waits_for_a_connection(redis_url: str) -> None:
    async def burst() -> list[object]:
        client = open_redis(redis_url)
        try:
            # Each BLPOP holds its connection for 0.2 s, so all of them are checked out at once.
            return await asyncio.gather(
                *(client.blpop([f"empty-{i}"], timeout=0.2) for i in range(POOL_SIZE + 50)), return_exceptions=True
            )
        finally:
            await client.aclose()

    answers = asyncio.run(burst())
    assert [a for a in answers if a is not None] == []
