"""The gateway's ASGI application run in process, for the scripts that look inside one call.

``call_path.py`` (functions a request passes through) and ``stream_map.py`` (where a stream's
instructions go) drive the same thing: a keep-alive upstream on loopback answering every request
with canned bytes, the gateway started through its lifespan with one model on that upstream and
one key, and chat requests handed straight to the application (no server, no socket to the client).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

Upstream = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def canned_upstream(response: bytes) -> Upstream:
    """A keep-alive HTTP/1.1 server that answers every request with ``response`` (head and body)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:  # the gateway closed its pooled connection
                return
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            writer.write(response)
            await writer.drain()

    return serve


@dataclass
class Gateway:
    app: Any
    key: str
    _lifespan: asyncio.Queue[dict[str, Any]]
    _task: asyncio.Task[None]
    _server: asyncio.Server
    _folder: Path

    async def stop(self) -> None:
        await self._lifespan.put({"type": "lifespan.shutdown"})
        await self._task
        self._server.close()
        shutil.rmtree(self._folder, ignore_errors=True)  # its database and journal: one run's, nobody reads them after


async def start_gateway(upstream_response: bytes, name: str, overrides: dict[str, Any] | None = None) -> Gateway:
    """The gateway with the model ``mock`` on a canned upstream, started, and a key of its (``name``: the key's
    and the data folder's)."""
    from meshapi_gateway.app import asgi
    from meshapi_gateway.auth.keys import create_key
    from meshapi_gateway.config import load_settings
    from meshapi_gateway.store import db

    server = await asyncio.start_server(canned_upstream(upstream_response), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    folder = Path(tempfile.mkdtemp(prefix=f"meshapi-{name}-"))
    settings = load_settings(
        overrides={
            "data_dir": str(folder),
            "builtin_catalog": False,
            "local_model": {"enabled": False},
            "local_embeddings": False,
            "jwt_secret": f"{name}-" + "x" * 32,
            "models": [
                {
                    "id": "mock",
                    "provider": "openai_compat",
                    "base_url": f"http://127.0.0.1:{port}/v1",
                    "api_key": "sk-mock",
                    "upstream_model": "mock",
                }
            ],
            **(overrides or {}),
        },
        environ={},
    )
    db.upgrade(settings.resolved_database_url())
    engine = db.make_engine(settings.resolved_database_url())
    async with db.sessionmaker(engine)() as session:
        key = (await create_key(session, "bench", name)).key
    await engine.dispose()

    app = asgi(settings)
    lifespan: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()
    await lifespan.put({"type": "lifespan.startup"})
    failed: list[str] = []

    async def lifespan_send(message: dict[str, Any]) -> None:
        if message["type"].endswith("failed"):
            failed.append(str(message.get("message")))
        started.set()

    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, lifespan.get, lifespan_send)
    )
    await started.wait()
    if failed:
        raise RuntimeError(failed[0])
    return Gateway(app, key, lifespan, task, server, folder)


async def chat(app: Any, key: str, body: bytes, profile: Callable[..., Any] | None = None) -> int:
    """One ``POST /v1/chat/completions`` with ``body``, its answer dropped; its status. ``profile``: a
    ``sys.setprofile`` function for the application's call alone."""
    scope = {
        "type": "http",
        "state": {},
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {key}".encode()),
        ],
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    if profile is None:
        await app(scope, receive, send)
        return status
    sys.setprofile(profile)
    try:
        await app(scope, receive, send)
    finally:
        sys.setprofile(None)
    return status
