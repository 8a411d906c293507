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
from types import FrameType
from typing import Any

import orjson
from in_process import chat, start_gateway

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
UPSTREAM_ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(ANSWER),
    ANSWER,
)
REQUEST = orjson.dumps({"model": "mock", "messages": [{"role": "user", "content": "hello"}]})


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


async def main(show: bool) -> int:
    gateway = await start_gateway(UPSTREAM_ANSWER, "call-path")
    assert await chat(gateway.app, gateway.key, REQUEST) == 200  # warm-up
    counter = Counter()
    assert await chat(gateway.app, gateway.key, REQUEST, counter) == 200
    assert counter.done, "the request never reached the upstream connection"
    names = list(counter.seen.values())
    comprehensions = [n for n in names if n.endswith(("<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"))]
    if show:
        for name in names:
            print(name)
    print(f"{len(names) - len(comprehensions)} functions (and {len(comprehensions)} comprehensions)")
    await gateway.stop()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print every function counted, in call order")
    sys.exit(asyncio.run(main(parser.parse_args().list)))
