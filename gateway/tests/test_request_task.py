"""``request_task`` finds the running task from the loop a thread saw last, and never another loop's task."""

from __future__ import annotations

import asyncio
import threading

from meshapi_gateway.api.request_task import request_task


async def _found() -> bool:
    return request_task() is asyncio.current_task()


def test_each_new_loop_in_a_thread_finds_its_own_task() -> None:
    for _ in range(3):  # a thread that ran one loop and now runs another
        assert asyncio.run(_found())


def test_tasks_of_one_loop_and_threads_of_their_own() -> None:
    async def many() -> list[bool]:
        return list(await asyncio.gather(*(_found() for _ in range(5))))

    assert all(asyncio.run(many()))
    results: list[bool] = []
    worker = threading.Thread(target=lambda: results.append(asyncio.run(_found())))
    worker.start()
    worker.join()
    assert results == [True]
