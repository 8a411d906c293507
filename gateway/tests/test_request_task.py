"""``request_task`` and ``running_loop``: the running task and loop from the loop a thread saw last, never another's."""

from __future__ import annotations

import asyncio
import threading

from meshapi_gateway.running_loop import request_task, running_loop


async def _found() -> bool:
    return request_task() is asyncio.current_task() and running_loop() is asyncio.get_running_loop()


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


def test_running_loop_outside_a_task_is_the_running_one() -> None:
    async def main() -> bool:
        assert request_task() is asyncio.current_task()  # the thread now keeps this loop
        loop = asyncio.get_running_loop()
        found: asyncio.Future[bool] = loop.create_future()
        loop.call_soon(lambda: found.set_result(running_loop() is loop))  # a callback: no task running
        return await found

    assert asyncio.run(main())
    assert asyncio.run(main())  # and in a new loop of the same thread
