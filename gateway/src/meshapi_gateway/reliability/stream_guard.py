"""Idle and total deadlines around any provider's chunk stream.

The router opens a stream and waits for its first chunk itself (time-to-first-token,
with fallback while nothing has reached the client); this wrapper hands out that first
chunk and then bounds every further wait by the idle timeout and the attempt's total
deadline. It works on whatever async iterator an adapter returns, so every provider
gets the same timeouts without code of its own. The waits share the attempt's one
``Watchdog`` timer, so a chunk costs a clock read, not a timer. ``next_batch`` hands out
what one network read brought at once when the adapter reads in batches (``ChunkBatches``).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

from meshapi_gateway.providers.base import UpstreamError
from meshapi_gateway.providers.chunk_batches import ChunkBatches
from meshapi_gateway.providers.upstream_errors import timed_out
from meshapi_gateway.reliability.watchdog import Watchdog

T = TypeVar("T")

# Called once when the stream is over: True finished, False failed, None abandoned (client left).
EndListener = Callable[[bool | None], None]


class GuardedStream:
    __slots__ = ("_deadline", "_dog", "_first", "_idle", "_inner", "_loop", "_on_end", "_provider", "ended")

    def __init__(
        self,
        first: list[dict[str, Any]] | None,
        inner: AsyncIterator[dict[str, Any]] | None,
        idle: float,
        deadline: float,
        provider: str,
        on_end: EndListener | None,
        dog: Watchdog,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        # ``first``: what the opening read (the first chunk, or the first read's chunks of a ``ChunkBatches``).
        self._first = first
        self._inner = inner
        self._idle = idle
        self._deadline = deadline  # event-loop time
        self._provider = provider
        self._on_end = on_end
        self._dog = dog
        self._loop = loop
        # True once the stream is over (its last batch handed out, failed, or closed). A slot, not a
        # property: the relay asks twice a read, and a property is a Python call each time.
        self.ended = False
        if inner is None:
            self._end(True)

    def __aiter__(self) -> "GuardedStream":
        return self

    async def __anext__(self) -> dict[str, Any]:
        first = self._first
        if first is not None:
            chunk = first.pop(0)
            if not first:
                self._first = None
            return chunk
        inner = self._inner
        if inner is None or self.ended:
            raise StopAsyncIteration
        return await self._wait(inner.__anext__())

    def ready(self) -> list[dict[str, Any]] | None:
        """What the opening read, once and without waiting (else None): ``next_batch``'s first answer.

        The relay asks this before ``next_batch``, which would cost a coroutine for what is at hand.
        """
        first = self._first
        if first is not None:
            self._first = None
            inner = self._inner
            if isinstance(inner, ChunkBatches) and inner.ended:
                self._end(True)
        return first

    async def next_batch(self) -> list[dict[str, Any]]:
        """Every chunk one network read brought (one chunk for adapters that do not batch).

        The batch that ends the stream sets ``ended``, so a relay can finish its answer with
        it instead of waiting for one more read to learn that nothing follows.
        """
        first = self._first
        if first is not None:
            self._first = None
            inner = self._inner
            if isinstance(inner, ChunkBatches) and inner.ended:
                self._end(True)
            return first
        inner = self._inner
        if inner is None or self.ended:
            raise StopAsyncIteration
        if not isinstance(inner, ChunkBatches):
            return [await self._wait(inner.__anext__())]
        # ``_wait`` written out: every further read of a stream comes here, and its coroutine was ≈ 1 k
        # instructions a read (callgrind in process); what it does and raises is the same.
        limit = self._loop.time() + self._idle
        total_bound = limit >= self._deadline
        dog = self._dog
        at = self._deadline if total_bound else limit
        if at < dog.due:
            dog.wait_until(at)
        else:  # ``wait_until``, for a limit its timer already comes by: the limit alone
            dog.limit = at
        try:
            batch = await inner.next_batch()
        except StopAsyncIteration:
            self._end(True)
            raise
        except asyncio.CancelledError:
            if not dog.claim_expiry():
                raise
            raise self._expired(total_bound) from None
        except UpstreamError:
            self._end(False)
            raise
        dog.limit = math.inf  # ``rest``
        if inner.ended:
            self._end(True)
        return batch

    async def _wait(self, step: Awaitable[T]) -> T:
        """One wait for the upstream, bounded by the idle timeout and the attempt's deadline."""
        limit = self._loop.time() + self._idle
        total_bound = limit >= self._deadline
        dog = self._dog
        dog.wait_until(self._deadline if total_bound else limit)
        try:
            got = await step
        except StopAsyncIteration:
            self._end(True)
            raise
        except asyncio.CancelledError:
            if not dog.claim_expiry():
                raise
            raise self._expired(total_bound) from None
        except UpstreamError:
            self._end(False)
            raise
        dog.rest()
        return got

    def _expired(self, total_bound: bool) -> UpstreamError:
        """The watchdog's expiry as the error the stream ends with (the stream is over, failed)."""
        self._end(False)
        what = "finish the stream within the total timeout" if total_bound else "send the next chunk"
        return timed_out(self._provider, what)

    def read_in(self, task: asyncio.Task[object]) -> None:
        """Further chunks are read in ``task``, not the one that opened the stream."""
        self._dog.follow(task)

    def _end(self, outcome: bool | None) -> None:
        if not self.ended:
            self.ended = True
            self._dog.stop()
            if self._on_end is not None:
                self._on_end(outcome)

    def closed_at_end(self) -> bool:
        """Close the stream without waiting when that is all there is to it: True when it is over and its
        reader holds nothing to close (most streams at their end). Else False: ``aclose`` is to be awaited."""
        if not self.ended:
            return False
        inner = self._inner
        if inner is not None:
            if not (isinstance(inner, ChunkBatches) and inner.ended and inner.released_at_end):
                return False
            self._inner = None
        self._first = None
        return True

    async def aclose(self) -> None:
        self._first = None
        if not self.ended:  # most streams are closed once over: no call to learn that
            self._end(None)
        inner, self._inner = self._inner, None
        close = getattr(inner, "aclose", None)
        if close is not None:
            await close()
