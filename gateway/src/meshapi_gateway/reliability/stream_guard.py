"""Idle and total deadlines around any provider's chunk stream.

The router opens a stream and waits for its first chunk itself (time-to-first-token,
with fallback while nothing has reached the client); this wrapper hands out that first
chunk and then bounds every further wait by the idle timeout and the attempt's total
deadline. It works on whatever async iterator an adapter returns, so every provider
gets the same timeouts without code of its own.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Callable

from meshapi_gateway.providers.base import UpstreamError
from meshapi_gateway.providers.upstream_errors import timed_out

# Called once when the stream is over: True finished, False failed, None abandoned (client left).
EndListener = Callable[[bool | None], None]


class GuardedStream:
    __slots__ = ("_first", "_inner", "_idle", "_deadline", "_provider", "_on_end", "_ended")

    def __init__(self, first: dict[str, Any] | None, inner: AsyncIterator[dict[str, Any]] | None, idle: float,
                 deadline: float, provider: str, on_end: EndListener | None = None) -> None:
        self._first = first
        self._inner = inner
        self._idle = idle
        self._deadline = deadline  # event-loop time
        self._provider = provider
        self._on_end = on_end
        self._ended = inner is None
        if inner is None and on_end is not None:
            on_end(True)

    def __aiter__(self) -> "GuardedStream":
        return self

    async def __anext__(self) -> dict[str, Any]:
        first = self._first
        if first is not None:
            self._first = None
            return first
        inner = self._inner
        if inner is None or self._ended:
            raise StopAsyncIteration
        remaining = self._deadline - asyncio.get_running_loop().time()
        total_bound = remaining <= self._idle
        try:
            if remaining <= 0:
                raise TimeoutError
            async with asyncio.timeout(remaining if total_bound else self._idle):
                return await inner.__anext__()
        except StopAsyncIteration:
            self._end(True)
            raise
        except TimeoutError:
            self._end(False)
            what = "finish the stream within the total timeout" if total_bound else "send the next chunk in time"
            raise timed_out(self._provider, what) from None
        except UpstreamError:
            self._end(False)
            raise

    def _end(self, outcome: bool | None) -> None:
        if not self._ended:
            self._ended = True
            if self._on_end is not None:
                self._on_end(outcome)

    async def aclose(self) -> None:
        self._first = None
        self._end(None)
        inner, self._inner = self._inner, None
        close = getattr(inner, "aclose", None)
        if close is not None:
            await close()
