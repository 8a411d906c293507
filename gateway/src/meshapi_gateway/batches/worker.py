"""``meshapi-gateway worker``: a process that runs batches and serves no HTTP.

It starts the same services as the gateway (so limits, fallbacks and billing are the
same) with the batch runner on, and stops gracefully on SIGTERM/SIGINT, handing its
unfinished items back at once. Start as many as the load needs; they share the work
through the database.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from meshapi_gateway.config import Settings

log = logging.getLogger("meshapi_gateway.batches")


def run_worker(settings: Settings) -> int:
    from meshapi_gateway.app import create_app

    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = settings.model_copy(update={"batch_runner": True})
    app = create_app(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with app.router.lifespan_context(app):
            runner = app.state.gw.batch_runner
            log.info("batch worker %s started", getattr(runner, "worker", "?"))
            await stop.wait()
        log.info("batch worker stopped")

    asyncio.run(main())
    return 0
