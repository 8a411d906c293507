"""A fake OpenAI-compatible upstream that fails on command, for fault-injection tests.

It speaks HTTP/1.1 by hand on a raw asyncio server (in a background thread), because the
faults it plays are below what a web framework lets an application do: resetting a
connection before the headers or in the middle of a chunked body, stalling, sending
bytes that are not SSE. Each test scripts a plan per model (the request's ``model``
field): a queue of behaviours for the next requests, then a default (or a repeating
cycle). Behaviours:

``ok``                 a normal answer (stream or not) with usage
``status:<code>[:<retry-after>]``  that HTTP status with an OpenAI error body
``reset``              read the request, then reset the connection before any header
``slow:<seconds>``     wait that long before the headers (ends early if the peer leaves)
``cut:<n>``            stream n chunks, then reset the connection
``stall:<n>``          stream n chunks (or send non-stream headers), then send nothing more
``badjson[:<n>]``      a body / the (n+1)-th stream event that is not JSON
``badsse``             a 200 ``text/event-stream`` body that is not SSE at all
``context``            a 400 saying the prompt is longer than the model's context window
``drip:<seconds>``     a normal answer whose stream waits that long before each chunk

It counts calls per model, open connections and requests still being served, and how
many responses were abandoned by the peer (the gateway closed the connection), so a
test can assert that no upstream call is left running.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import socket
import struct
import threading
import time
from typing import Any, Iterator

STALL_LIMIT = 60.0  # no test server waits longer than this for anything


def closed_port_url() -> str:
    """A base URL on a loopback port nobody listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class FaultyUpstream:
    def __init__(self) -> None:
        self._plans: dict[str, collections.deque[str]] = collections.defaultdict(collections.deque)
        self._defaults: dict[str, Iterator[str]] = {}
        self._lock = threading.Lock()
        self.calls: collections.Counter[str] = collections.Counter()
        self.bodies: list[dict[str, Any]] = []
        self.connections = 0
        self.active = 0
        self.abandoned = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- scripting (from the test's thread) ----------------------------------
    def plan(self, model: str, *behaviours: str, then: str | list[str] = "ok") -> "FaultyUpstream":
        """The next requests for ``model`` play ``behaviours`` in order; after them ``then`` (cycled)."""
        with self._lock:
            self._plans[model] = collections.deque(behaviours)
            self._defaults[model] = itertools.cycle([then] if isinstance(then, str) else list(then))
        return self

    def _next(self, model: str) -> str:
        with self._lock:
            queue = self._plans.get(model)
            if queue:
                return queue.popleft()
            default = self._defaults.get(model)
            return next(default) if default is not None else "ok"

    def reset_counts(self) -> None:
        with self._lock:
            self.calls.clear()
            self.bodies.clear()
            self.abandoned = 0

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once no request is being served (every upstream call has ended)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.active == 0:
                return True
            time.sleep(0.02)
        return self.active == 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- server ---------------------------------------------------------------
    def start(self) -> "FaultyUpstream":
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, _, v = line.partition(":")
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length") or 0)
                try:
                    raw = await reader.readexactly(length) if length else b""
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = {}
                model = str(body.get("model", ""))
                behaviour = self._next(model)
                with self._lock:
                    self.calls[model] += 1
                    self.bodies.append(body)
                self.active += 1
                try:
                    keep = await self._serve(behaviour, model, body, reader, writer)
                except (ConnectionError, OSError):
                    keep = False
                finally:
                    self.active -= 1
                if not keep:
                    return
        finally:
            self.connections -= 1
            if not writer.transport.is_closing():
                writer.close()

    # -- behaviours -------------------------------------------------------------
    async def _peer_closed_within(self, reader: asyncio.StreamReader, seconds: float) -> bool:
        """Wait up to ``seconds``; True as soon as the peer closes the connection."""
        try:
            data = await asyncio.wait_for(reader.read(65536), timeout=seconds)
        except asyncio.TimeoutError:
            return False
        except (ConnectionError, OSError):
            data = b""
        if not data:
            self.abandoned += 1
            return True
        return False

    @staticmethod
    def _reset(writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def _serve(
        self,
        behaviour: str,
        model: str,
        body: dict[str, Any],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        kind, _, arg = behaviour.partition(":")
        stream = bool(body.get("stream"))
        if kind == "status":
            code, _, retry_after = arg.partition(":")
            extra = f"retry-after: {retry_after}\r\n" if retry_after else ""
            payload = json.dumps(
                {"error": {"message": f"scripted {code}", "type": "server_error", "code": f"e{code}"}}
            ).encode()
            writer.write(
                f"HTTP/1.1 {code} Scripted\r\ncontent-type: application/json\r\n{extra}"
                f"content-length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
            return True
        if kind == "reset":
            self._reset(writer)
            return False
        if kind == "context":
            payload = json.dumps(
                {
                    "error": {
                        "message": "This model's maximum context length is 1000 tokens.",
                        "type": "invalid_request_error",
                        "code": "context_length_exceeded",
                    }
                }
            )
            writer.write(
                b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(payload), payload.encode())
            )
            await writer.drain()
            return True
        if kind == "slow":
            if await self._peer_closed_within(reader, float(arg)):
                return False
            kind, arg = "ok", ""
        words = f"answer from {model}".split(" ")
        prompt_tokens, completion_tokens = 10, len(words)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if not stream:
            return await self._whole(kind, arg, model, words, usage, reader, writer)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        await writer.drain()

        async def send(data: bytes) -> None:
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await writer.drain()

        if kind == "badsse":
            await send(b"<html><body>502 Bad Gateway</body></html>\n")
            await send(b"")  # the chunked terminator: the body ends cleanly, without a single event
            return True
        base = {"id": "chatcmpl-faulty", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
        events = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
        ]
        events += [
            {**base, "choices": [{"index": 0, "delta": {"content": w if i == 0 else " " + w}, "finish_reason": None}]}
            for i, w in enumerate(words)
        ]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        events.append({**base, "choices": [], "usage": usage})
        limit = int(arg) if arg and kind != "drip" else 0
        for n, event in enumerate(events):
            if kind == "cut" and n >= limit:
                self._reset(writer)
                return False
            if kind == "stall" and n >= limit:
                await self._peer_closed_within(reader, STALL_LIMIT)
                return False
            if kind == "badjson" and n >= limit:
                await send(b'data: {"choices": [{"delta": {"content": "unterminated\n\n')
                await send(b"data: [DONE]\n\n")
                await send(b"")
                return True
            if kind == "drip" and await self._peer_closed_within(reader, float(arg)):
                return False
            await send(b"data: " + json.dumps(event).encode() + b"\n\n")
        await send(b"data: [DONE]\n\n")
        await send(b"")
        return True

    async def _whole(
        self,
        kind: str,
        arg: str,
        model: str,
        words: list[str],
        usage: dict[str, int],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        if kind in ("badjson", "badsse"):
            payload = b'{"id": "chatcmpl-faulty", "choices": [{"message": '
        else:
            payload = json.dumps(
                {
                    "id": "chatcmpl-faulty",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": " ".join(words)},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            ).encode()
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(payload))
        if kind == "cut":
            writer.write(payload[: len(payload) // 2])
            await writer.drain()
            self._reset(writer)
            return False
        if kind == "stall":
            await writer.drain()
            await self._peer_closed_within(reader, STALL_LIMIT)
            return False
        writer.write(payload)
        await writer.drain()
        return True
