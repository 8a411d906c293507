"""The Python limit: a pass-through proxy that only reads, parses, forwards and writes.

Raw ASGI on uvicorn (uvloop, httptools), aiohttp to the upstream, orjson for
JSON. Whatever a real gateway adds on top of this is its own cost.
Run: python minimal_proxy.py --port P --route mock=URL --route mock-stream=URL
"""

from __future__ import annotations

import argparse
from typing import Any, Awaitable, Callable

import aiohttp
import orjson
import uvicorn

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

ROUTES: dict[str, str] = {}
UPSTREAM_HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
_session: aiohttp.ClientSession | None = None


async def _error(send: Send, status: int, message: str) -> None:
    body = orjson.dumps({"error": {"message": message, "type": "invalid_request_error"}})
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    global _session
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=None))
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                if _session is not None:
                    await _session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    chunks = []
    more = True
    while more:
        msg = await receive()
        chunks.append(msg.get("body", b""))
        more = msg.get("more_body", False)
    request = orjson.loads(b"".join(chunks))
    base = ROUTES.get(request.get("model", ""))
    if base is None:
        await _error(send, 404, "unknown model")
        return
    assert _session is not None
    async with _session.post(
        base + "/chat/completions", data=orjson.dumps(request), headers=UPSTREAM_HEADERS
    ) as upstream:
        if request.get("stream"):
            await send(
                {
                    "type": "http.response.start",
                    "status": upstream.status,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
                }
            )
            async for piece in upstream.content.iter_any():
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            # Parsing the answer is part of any real proxy's job (usage, cost).
            answer = orjson.dumps(orjson.loads(await upstream.read()))
            await send(
                {
                    "type": "http.response.start",
                    "status": upstream.status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": answer})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--route", action="append", default=[], help="MODEL=BASE_URL")
    args = parser.parse_args()
    for route in args.route:
        model, _, url = route.partition("=")
        ROUTES[model] = url.rstrip("/")
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
