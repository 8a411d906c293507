"""The disconnect watchers of many requests in flight share one timer, and each still catches its own client.

Runs ``cancel_on_disconnect`` on a real asyncio event loop with real tasks; a client is an ASGI
``receive`` that answers ``http.disconnect`` once its event is set. Nothing here measures time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from meshapi_gateway.reliability.disconnect import WATCH_AFTER, ClientGone, cancel_on_disconnect

IN_FLIGHT = 200


class Client:
    def __init__(self) -> None:
        self.gone = asyncio.Event()
        self.reads = 0

    async def receive(self) -> dict[str, Any]:
        self.reads += 1
        await self.gone.wait()
        return {"type": "http.disconnect"}


def _timers(loop: asyncio.AbstractEventLoop) -> int:
    scheduled = getattr(loop, "_scheduled", None)
    if scheduled is None:
        pytest.skip("this event loop does not list its timers")
    return sum(1 for handle in scheduled if not handle.cancelled())


def test_requests_in_flight_share_one_timer_and_each_client_is_watched() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        clients = [Client() for _ in range(IN_FLIGHT)]
        answers = [loop.create_future() for _ in range(IN_FLIGHT)]
        calls = [
            asyncio.ensure_future(cancel_on_disconnect(c.receive, a)) for c, a in zip(clients, answers, strict=True)
        ]
        await asyncio.sleep(0)  # every call has started and waits for its answer
        assert _timers(loop) == 1  # one per request before the watchers shared a sweep

        answers[0].set_result("quick")  # done before any watcher was due: its client is never read
        assert await calls[0] == "quick"
        assert clients[0].reads == 0

        while not all(c.reads for c in clients[1:]):  # past WATCH_AFTER every other request is watched
            await asyncio.sleep(WATCH_AFTER)
        clients[1].gone.set()
        with pytest.raises(ClientGone):
            await calls[1]
        assert answers[1].cancelled()  # the work was cancelled with the client's departure

        for answer in answers[2:]:
            answer.set_result("late")
        assert [await call for call in calls[2:]] == ["late"] * (IN_FLIGHT - 2)
        await asyncio.sleep(0)
        assert _timers(loop) == 0  # nothing left armed once every request is done

    asyncio.run(main())


def test_a_request_after_a_quiet_spell_is_watched_again() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(2):  # the sweep re-arms after it emptied
            client = Client()
            answer: asyncio.Future[str] = loop.create_future()
            call = asyncio.ensure_future(cancel_on_disconnect(client.receive, answer))
            while not client.reads:
                await asyncio.sleep(WATCH_AFTER)
            client.gone.set()
            with pytest.raises(ClientGone):
                await call

    asyncio.run(main())
