"""A fast route gets the gateway state of the lifespan that is running, also after a restart.

``RequestContext`` reads ``app.state.gw`` once and keeps it (a read of Starlette's ``State``
goes through a failed lookup); a new lifespan makes a new state, which the next request must get.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator

from starlette.applications import Starlette

from meshapi_gateway.request_context import RequestContext


def test_a_restarted_lifespan_hands_its_new_state_to_fast_routes() -> None:
    made: list[object] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.gw = object()
        made.append(app.state.gw)
        yield

    seen: list[Any] = []

    async def handler(state: Any, scope: Any, receive: Any, send: Any) -> None:
        seen.append(state)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    app = RequestContext(Starlette(lifespan=lifespan), fast_routes={("GET", "/x"): handler})

    async def request() -> None:
        scope = {"type": "http", "method": "GET", "path": "/x", "headers": [], "state": {}}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            pass

        await app(scope, receive, send)

    async def serve_once() -> None:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        started = asyncio.Event()

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "lifespan.startup.complete":
                started.set()

        await inbox.put({"type": "lifespan.startup"})
        running = asyncio.create_task(
            app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, send)
        )
        await started.wait()
        await request()
        await request()
        await inbox.put({"type": "lifespan.shutdown"})
        await running

    async def main() -> None:
        await serve_once()
        await serve_once()

    asyncio.run(main())
    assert len(made) == 2 and made[0] is not made[1]
    assert seen == [made[0], made[0], made[1], made[1]]
