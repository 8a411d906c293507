"""The write-behind queue the ledger and the idempotency answers share, driven directly."""

from __future__ import annotations

import asyncio
import logging
from typing import Sequence

from meshapi_gateway.write_behind import WriteBehind

log = logging.getLogger("test.write_behind")


class Table:
    """Stands in for the database: keeps what was written, fails the first ``failures`` writes."""

    def __init__(self, failures: int = 0) -> None:
        self.rows: list[int] = []
        self.calls: list[tuple[list[int], bool]] = []
        self.failures = failures

    async def write(self, batch: Sequence[int], retry: bool) -> None:
        self.calls.append((list(batch), retry))
        await asyncio.sleep(0)  # a real write yields to the loop; a concurrent flush may run here
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database away")
        self.rows.extend(batch)


async def test_batches_are_written_in_order_and_the_queue_drains_on_close() -> None:
    table = Table()
    queue = WriteBehind(table.write, what="rows", log=log, flush_seconds=0.01, batch_size=3)
    queue.start("test-writer")
    for i in range(7):
        queue.add(i)
    await queue.aclose()
    assert table.rows == list(range(7)) and len(queue) == 0 and queue.written == 7
    assert [len(batch) for batch, _ in table.calls] == [3, 3, 1]


async def test_a_failed_write_is_retried_and_told_so() -> None:
    table = Table(failures=1)
    queue = WriteBehind(table.write, what="rows", log=log)
    queue.add(1)
    await queue.flush()
    assert table.calls == [([1], False), ([1], True)] and table.rows == [1]


async def test_concurrent_flushes_never_write_a_batch_twice() -> None:
    table = Table()
    queue = WriteBehind(table.write, what="rows", log=log, batch_size=2)
    for i in range(5):
        queue.add(i)
    await asyncio.gather(queue.flush(), queue.flush(), queue.flush())
    assert table.rows == [0, 1, 2, 3, 4]


async def test_upkeep_runs_on_the_writer_task() -> None:
    ran = asyncio.Event()

    async def upkeep() -> None:
        ran.set()

    table = Table()
    queue = WriteBehind(table.write, what="rows", log=log, flush_seconds=0.0, upkeep=upkeep, upkeep_seconds=0.0)
    queue.start("test-writer")
    queue.add(1)
    await asyncio.wait_for(ran.wait(), 10)
    await queue.aclose()
    assert table.rows == [1]


async def test_a_pass_writes_what_gathered_then_waits_unless_a_full_batch_is_queued() -> None:
    """Under steady arrivals each transaction carries what gathered over ``flush_seconds``, not a trickle."""
    loop = asyncio.get_running_loop()
    table = Table()
    ends: list[float] = []
    starts: list[float] = []

    async def write(batch: Sequence[int], retry: bool) -> None:
        starts.append(loop.time())
        await table.write(batch, retry)
        if len(table.calls) == 1:
            queue.add(100)  # arrived while the first batch was written
        ends.append(loop.time())

    queue = WriteBehind(write, what="rows", log=log, flush_seconds=0.2, batch_size=4)
    for i in range(9):
        queue.add(i)
    queue.start("test-writer")
    while len(table.rows) < 10:
        await asyncio.sleep(0.01)
    await queue.aclose()
    # Two full batches back to back, then the rest and the late arrival together, a wait later.
    assert [batch for batch, _ in table.calls] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 100]]
    assert starts[2] - ends[1] >= 0.2 * 0.9


async def test_flush_writes_everything_queued_whatever_the_batch_size() -> None:
    table = Table()
    queue = WriteBehind(table.write, what="rows", log=log, flush_seconds=3600, batch_size=2)
    queue.start("test-writer")
    for i in range(5):
        queue.add(i)
    await queue.flush()
    assert table.rows == [0, 1, 2, 3, 4] and len(queue) == 0
    await queue.aclose()
