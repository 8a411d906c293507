"""The idempotency-key table on SQLite and PostgreSQL: claim races, replay, release, takeover, purge."""

from __future__ import annotations

import asyncio

from meshapi_gateway.idempotency.store import IdempotencyStore, StoredResponse
from meshapi_gateway.store import db


def test_store_on_both_databases(database_url: str) -> None:
    db.upgrade(database_url)

    async def run() -> None:
        engine = db.make_engine(database_url)
        try:
            store = IdempotencyStore(db.sessionmaker(engine), ttl_seconds=86400, stale_after=600)
            now = 1_800_000_000
            claims = await asyncio.gather(*(store.claim("alice", "k1", "fp", now) for _ in range(5)))
            assert sorted(c.outcome for c in claims) == ["claimed", "running", "running", "running", "running"]
            assert (await store.claim("alice", "k1", "other", now)).outcome == "mismatch"
            assert (await store.claim("bob", "k1", "fp", now)).outcome == "claimed"  # keys are per owner
            answer = StoredResponse(200, [("content-type", "application/json"), ("x-meshapi-fallback", "a,b")],
                                    b'{"id": "chatcmpl-1"}')
            await store.complete("alice", "k1", answer)
            done = await store.claim("alice", "k1", "fp", now + 5)
            assert done.outcome == "done" and done.response == answer
            await store.release("alice", "k1")  # a finished answer is never released
            assert (await store.claim("alice", "k1", "fp", now + 6)).outcome == "done"
            # bob's claim was abandoned by a dead process: taken over once stale.
            assert (await store.claim("bob", "k1", "fp", now + 60)).outcome == "running"
            assert (await store.claim("bob", "k1", "fp", now + 601)).outcome == "claimed"
            await store.release("bob", "k1")
            assert (await store.claim("bob", "k1", "fp2", now + 602)).outcome == "claimed"
            # After 24 h the key is forgotten: purged, or claimed anew if still there.
            assert (await store.claim("alice", "k1", "new", now + 86400)).outcome == "claimed"
            assert await store.purge(now + 86400 + 700) == 1  # bob's; alice's new claim runs another day
            assert await store.purge(now + 2 * 86400) == 1
            assert await store.count() == 0
        finally:
            await engine.dispose()

    asyncio.run(run())
