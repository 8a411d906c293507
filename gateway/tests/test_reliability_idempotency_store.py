"""The idempotency table on SQLite and PostgreSQL: batched upserts, preload order, lookup, purge.

On a SQLite file the writes go through the writer's own connection (``SQLiteWriter``), as the gateway
writes them; the large batch goes through the engine.
"""

from __future__ import annotations

import asyncio

from meshapi_gateway.idempotency.store import (
    SQLITE_ROWS,
    FinishedKey,
    IdempotencyStore,
    StoredResponse,
    statement_sizes,
)
from meshapi_gateway.store import db
from meshapi_gateway.store.sqlite_writer import SQLiteWriter, sqlite_file


def test_store_on_both_databases(database_url: str) -> None:
    db.upgrade(database_url)

    async def run() -> None:
        engine = db.make_engine(database_url)
        try:
            path = sqlite_file(database_url)
            store = IdempotencyStore(db.sessionmaker(engine), SQLiteWriter(path) if path else None)
            now = 1_800_000_000
            day = 86400
            answer = StoredResponse(
                200, [("content-type", "application/json"), ("x-meshapi-fallback", "a,b")], b'{"id": "chatcmpl-1"}'
            )
            other = StoredResponse(201, [], b"\x00binary\xff")
            batch = [
                FinishedKey("alice", "k1", "fp", answer, now, now + day),
                FinishedKey("bob", "k1", "fp-b", other, now - 10, now - 10 + day),
                FinishedKey("carol", "old", "fp", answer, now - day, now - 1),
            ]
            await store.write(batch)
            await store.write(batch)  # a retried batch is harmless
            assert await store.count() == 3
            found = await store.find("alice", "k1", now)
            assert found is not None and found.fingerprint == "fp" and found.response == answer
            assert await store.find("carol", "old", now) is None  # expired
            assert await store.find("nobody", "k1", now) is None
            # The start-up preload: unexpired answers only, in expiry order.
            loaded = [item async for item in store.load(now)]
            assert [(i.owner, i.response) for i in loaded] == [("bob", other), ("alice", answer)]
            # An expired key answered anew replaces its old row (the newest of a batch wins).
            fresh = StoredResponse(200, [], b"fresh")
            await store.write(
                [
                    FinishedKey("carol", "old", "fp2", answer, now, now + day),
                    FinishedKey("carol", "old", "fp3", fresh, now + 1, now + 1 + day),
                ]
            )
            again = await store.find("carol", "old", now + 2)
            assert again is not None and again.fingerprint == "fp3" and again.response == fresh
            assert await store.purge(now + day) == 2  # alice's and bob's
            assert await store.purge(now + 2 * day) == 1  # carol's newer answer
            assert await store.count() == 0
        finally:
            await store.aclose()
            await engine.dispose()

    asyncio.run(run())


def test_a_large_batch_lands_whole_in_few_statements(database_url: str) -> None:
    db.upgrade(database_url)
    sizes = statement_sizes(2 * SQLITE_ROWS + 37)
    assert sum(sizes) == 2 * SQLITE_ROWS + 37 and sizes[:2] == [SQLITE_ROWS] * 2 and len(sizes) == 5  # 32+4+1

    async def run() -> None:
        engine = db.make_engine(database_url)
        try:
            store = IdempotencyStore(db.sessionmaker(engine))
            now = 1_800_000_000
            batch = [
                FinishedKey(
                    f"owner{i % 7}", f"k{i}", f"fp{i}", StoredResponse(200, [("n", str(i))], b"%d" % i), now, now + 3600
                )
                for i in range(sum(sizes))
            ]
            await store.write(batch)
            assert await store.count() == len(batch)
            for i in (0, SQLITE_ROWS, len(batch) - 1):
                found = await store.find(f"owner{i % 7}", f"k{i}", now)
                assert found is not None and found.response == StoredResponse(200, [("n", str(i))], b"%d" % i)
        finally:
            await engine.dispose()

    asyncio.run(run())
