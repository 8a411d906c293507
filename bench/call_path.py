"""How many of the gateway's functions one chat request passes through, from the socket to the upstream.

Counts the distinct functions of ``meshapi_gateway`` (by code object, so a coroutine resumed
many times counts once; comprehensions are expressions, not steps, and Python 3.12 inlines
them, so they are listed apart) that run for one non-streamed ``POST /v1/chat/completions`` with an
``rsk_`` key: from the call of the ASGI application (what the server does once it has parsed
the request off the socket) up to the write of the request to the upstream connection
(``http_client`` ``Connection.send``). Nothing of the answer's way back is counted. The first
request warms the caches; the second is the one counted. The upstream is a canned HTTP
answer on loopback, so only the gateway's own code is in the count.

Run: python bench/call_path.py [--list]   (PYTHONPATH chooses which sources are measured)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "mock",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
)


async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A keep-alive HTTP/1.1 server that answers every request with ``ANSWER``."""
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
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER)
        )
        await writer.drain()


class Counter:
    def __init__(self) -> None:
        self.seen: dict[Any, str] = {}
        self.done = False

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call" or self.done:
            return
        code = frame.f_code
        path = code.co_filename.replace("\\", "/")
        if "/meshapi_gateway/" not in path:
            return
        where = path.split("/meshapi_gateway/", 1)[1]
        self.seen.setdefault(code, f"{where}:{code.co_firstlineno} {code.co_qualname}")
        if where == "http_client/connection.py" and code.co_name == "send":
            self.done = True


async def request(app: Any, key: str, counter: Counter | None) -> int:
    body = orjson.dumps({"model": "mock", "messages": [{"role": "user", "content": "hello"}]})
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

    if counter is not None:
        sys.setprofile(counter)
    try:
        await app(scope, receive, send)
    finally:
        sys.setprofile(None)
    return status


async def main(show: bool) -> int:
    from meshapi_gateway.app import asgi
    from meshapi_gateway.auth.keys import create_key
    from meshapi_gateway.config import load_settings
    from meshapi_gateway.store import db

    server = await asyncio.start_server(upstream, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    folder = Path(tempfile.mkdtemp(prefix="meshapi-call-path-"))
    settings = load_settings(
        overrides={
            "data_dir": str(folder),
            "builtin_catalog": False,
            "local_model": {"enabled": False},
            "local_embeddings": False,
            "jwt_secret": "call-path-" + "x" * 32,
            "models": [
                {
                    "id": "mock",
                    "provider": "openai_compat",
                    "base_url": f"http://127.0.0.1:{port}/v1",
                    "api_key": "sk-mock",
                    "upstream_model": "mock",
                }
            ],
        },
        environ={},
    )
    db.upgrade(settings.resolved_database_url())
    engine = db.make_engine(settings.resolved_database_url())
    async with db.sessionmaker(engine)() as session:
        key = (await create_key(session, "bench", "call-path")).key
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
    assert await request(app, key, None) == 200  # warm-up
    counter = Counter()
    assert await request(app, key, counter) == 200
    assert counter.done, "the request never reached the upstream connection"
    names = list(counter.seen.values())
    comprehensions = [n for n in names if n.endswith(("<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"))]
    if show:
        for name in names:
            print(name)
    print(f"{len(names) - len(comprehensions)} functions (and {len(comprehensions)} comprehensions)")
    await lifespan.put({"type": "lifespan.shutdown"})
    await task
    server.close()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print every function counted, in call order")
    sys.exit(asyncio.run(main(parser.parse_args().list)))
