"""The watchdogs of one event loop share a timer when their limits come in order, and each still fires on time.

The end-to-end timeouts (first token, idle, total) are covered through the gateway in
``test_reliability_faults.py``; this holds the queue's ordering rules on both event loops.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Coroutine

import pytest
import uvloop

from meshapi_gateway.reliability.watchdog import Watchdog

Runner = Callable[[Coroutine[Any, Any, Any]], Any]
RUNNERS = [pytest.param(asyncio.run, id="asyncio"), pytest.param(uvloop.run, id="uvloop")]


async def _wait(limit: float, work: float = 10.0) -> tuple[str, float]:
    """Wait ``work`` seconds under a watchdog with ``limit``: how it ended and after how long."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    dog = Watchdog(loop, task)
    start = loop.time()
    dog.wait_until(start + limit)
    try:
        await asyncio.sleep(work)
    except asyncio.CancelledError:
        assert dog.claim_expiry()
        return "expired", loop.time() - start
    dog.stop()
    return "done", loop.time() - start


@pytest.mark.parametrize("run", RUNNERS)
def test_limits_in_and_out_of_order_each_expire_on_time(run: Runner) -> None:
    async def main() -> list[tuple[str, float]]:
        # The third limit is earlier than those queued before it: it gets a timer of its own.
        return list(await asyncio.gather(_wait(0.3), _wait(0.3, work=0.05), _wait(0.1), _wait(0.3)))

    first, stopped, early, last = run(main())
    assert first[0] == "expired" and 0.29 <= first[1] < 0.6
    assert stopped[0] == "done"
    assert early[0] == "expired" and 0.09 <= early[1] < 0.25
    assert last[0] == "expired" and 0.29 <= last[1] < 0.6


@pytest.mark.parametrize("run", RUNNERS)
def test_a_later_wait_is_bounded_by_its_own_limit(run: Runner) -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        dog = Watchdog(loop, task)
        start = loop.time()
        dog.wait_until(start + 0.1)
        await asyncio.sleep(0.02)
        dog.rest()
        dog.wait_until(loop.time() + 0.3)  # later than the timer: it re-arms when it fires
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            assert dog.claim_expiry()
            return loop.time() - start
        raise AssertionError("the wait was not cut")

    assert 0.31 <= run(main()) < 0.6


@pytest.mark.parametrize("run", RUNNERS)
def test_a_stopped_watchdog_never_cancels(run: Runner) -> None:
    async def main() -> str:
        outcomes = await asyncio.gather(*(_wait(0.05, work=0.01) for _ in range(20)))
        await asyncio.sleep(0.1)  # past every limit: nothing fires into a finished wait
        return ",".join({o for o, _ in outcomes})

    assert run(main()) == "done"
