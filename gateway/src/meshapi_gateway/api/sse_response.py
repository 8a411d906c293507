"""An ASGI response that writes SSE frames as they are produced and notices a client leaving.

A watcher waits for ``http.disconnect``; when the client goes away the producing task
is cancelled at once, so the upstream call is closed instead of generating for nobody.
The watcher starts once the stream has run ``WATCH_AFTER`` seconds (until then a write to
a client that left is dropped by the server, which costs nothing), through the event loop's
one queue of watches (``reliability/disconnect.py``), so a stream arms no timer of its own. The frames iterator
may end with ``LastFrames``: they go out in the same write as the end of the body.
``on_finish`` always runs (billing must happen also for a stream cut short). The body's pieces
go straight to uvicorn's cycle when the layers above offer it for this ``send`` (``one_write.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator, Awaitable, Callable

from starlette.types import Receive, Scope, Send

from meshapi_gateway.one_write import DIRECT_WRITE
from meshapi_gateway.reliability.disconnect import ClientWatch, unwatch, watch_client


class LastFrames(bytes):
    """The frames that end the response: written together with the end of the body (one write)."""


SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def sse_head(headers: dict[str, str] | None) -> list[tuple[bytes, bytes]]:
    """The encoded head of an SSE response with ``headers`` after the SSE ones."""
    return [*SSE_HEADERS, *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())]


class SSEResponse:
    def __init__(
        self,
        frames: AsyncIterator[bytes],
        headers: dict[str, str] | None = None,
        on_finish: Callable[[bool], Awaitable[None]] | None = None,
        interrupted_frames: bytes | Callable[[], bytes] | None = None,
        *,
        head: list[tuple[bytes, bytes]] | None = None,
        task: asyncio.Task[Any] | None = None,
        watch: ClientWatch | None = None,
    ) -> None:
        """``head``: the whole encoded head instead of ``headers`` (a caller that keeps heads encoded).

        ``task``: the task the response will be sent from, if the caller has it (``watch_client``).
        ``watch``: a watch of that task already running (the stream's opening's), which the response
        takes over and ends.
        """
        self.task = task
        self.watch = watch
        self.frames = frames
        self.headers = head if head is not None else sse_head(headers)
        self.on_finish = on_finish
        # Written when the server cuts the stream (graceful-shutdown deadline), so the client
        # sees an error frame and never takes the cut for a finished answer. A callable is
        # called only then (making the frame may record the error on the request).
        self.interrupted_frames = interrupted_frames
        self.client_gone = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The stream's task is cancelled when the client leaves (watched through the event loop's one
        # queue, from ``WATCH_AFTER`` on: no timer or task of its own for a stream that ends sooner).
        watch = self.watch or watch_client(receive, self.task)
        # The cycle's own write of a body piece, when ``send`` is the one it was offered with (no layer
        # between must see the body); it declines (False) a piece uvicorn must wait for or drop.
        direct = scope.get(DIRECT_WRITE)
        write = direct[1] if direct is not None and direct[0] is send else None
        started = False
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.headers})
            started = True
            more = True
            # Stepped by hand rather than ``async for``: that calls the iterator's ``__aiter__``, a
            # Python call per stream for the plain objects that relay chat streams.
            step = self.frames.__anext__
            while True:
                try:
                    chunk = await step()
                except StopAsyncIteration:
                    break
                more = type(chunk) is not LastFrames
                if write is None or not write(chunk, more):
                    await send({"type": "http.response.body", "body": chunk, "more_body": more})
                if not more:
                    break  # the response is over (the iterator is closed below, as always)
            if more and (write is None or not write(b"", False)):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not watch.gone:
                cut = self.interrupted_frames
                if started and cut:
                    with contextlib.suppress(Exception):
                        body = cut() if callable(cut) else cut
                        await asyncio.wait_for(
                            send({"type": "http.response.body", "body": body, "more_body": False}), 1.0
                        )
                raise
            watch.task.uncancel()
        except OSError:
            self.client_gone = True  # the socket went away under a write
        finally:
            watcher = unwatch(watch)
            if watch.gone:
                self.client_gone = True
            # ``try`` rather than ``contextlib.suppress``: a context manager is three Python calls a stream.
            if watcher is not None:
                try:
                    await watcher
                except asyncio.CancelledError:
                    pass
            aclose = getattr(self.frames, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:
                    pass
            if self.on_finish is not None:
                await self.on_finish(self.client_gone)
