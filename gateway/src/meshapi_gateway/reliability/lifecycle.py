"""Start and stop of the reliability layer: shared breaker state, idempotency upkeep, draining.

On stop (after the server has stopped accepting and waited for in-flight requests up to
``shutdown_grace_seconds``) it waits briefly for streams that are still settling, so their
usage is recorded before billing's last flush.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from meshapi_gateway.idempotency.service import start_idempotency

if TYPE_CHECKING:
    from meshapi_gateway.reliability.breaker_sync import RedisBreakerSync
    from meshapi_gateway.state import GatewayState

log = logging.getLogger("meshapi_gateway.reliability")

SETTLE_WAIT_SECONDS = 5.0


async def wait_for_streams(state: "GatewayState", limit: float = SETTLE_WAIT_SECONDS) -> None:
    pipeline = state.chat
    deadline = time.monotonic() + limit
    while pipeline.open_streams > 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def start_reliability(state: "GatewayState") -> Callable[[], Awaitable[None]]:
    sync: RedisBreakerSync | None = None
    owned_client: Any = None
    if state.settings.redis_url:
        # Imported only with Redis configured: a gateway without it does not load them.
        from meshapi_gateway.reliability.breaker_sync import RedisBreakerSync
        from meshapi_gateway.shared_redis import redis_client

        client, owned = redis_client(state)
        owned_client = client if owned else None
        sync = RedisBreakerSync(client, state.router.breakers, state.settings.breaker_sync_seconds)
        await sync.start()
    upkeep = await start_idempotency(state)

    async def stop() -> None:
        await wait_for_streams(state)
        await upkeep()
        if sync is not None:
            await sync.stop()
        if owned_client is not None:
            await owned_client.aclose()

    return stop
