"""Owner-scoped files: store checked bytes, describe, list, stream and delete them.

Metadata rows are written only after the bytes are fully stored, so a crash mid-upload
leaves no visible half file; a file of another owner is indistinguishable from a missing
one (404).
"""

from __future__ import annotations

import time
from typing import Any, AsyncIterable, AsyncIterator

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from meshapi_gateway.errors import GatewayError
from meshapi_gateway.files.storage import DatabaseStorage, LocalStorage, Storages
from meshapi_gateway.ids import ulid
from meshapi_gateway.store.batches_tables import StoredFile

FILE_PREFIX = "file-"


def file_not_found(file_id: str) -> GatewayError:
    return GatewayError("file_not_found", f"File '{file_id}' not found.")


def file_object(row: StoredFile) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "file",
        "bytes": row.bytes,
        "created_at": row.created_at,
        "filename": row.filename,
        "purpose": row.purpose,
        "status": "processed",
        "status_details": None,
        "expires_at": None,
    }


class FileService:
    def __init__(self, sessions: async_sessionmaker, storages: Storages) -> None:  # type: ignore[type-arg]
        self.sessions = sessions
        self.storages = storages

    @classmethod
    def build(cls, sessions: async_sessionmaker, settings: Any) -> "FileService":  # type: ignore[type-arg]
        storages = Storages(settings.file_storage, LocalStorage(settings.data_dir / "files"), DatabaseStorage(sessions))
        return cls(sessions, storages)

    async def store(
        self,
        owner: str,
        purpose: str,
        filename: str,
        chunks: AsyncIterable[bytes],
        *,
        lines: int = 0,
        file_id: str | None = None,
    ) -> StoredFile:
        """Write the bytes, then the row; ``file_id`` replaces a generated file of that id."""
        file_id = file_id or FILE_PREFIX + ulid()
        storage = self.storages.default
        size = await storage.write(file_id, chunks)
        row = StoredFile(
            id=file_id,
            owner=owner,
            purpose=purpose,
            filename=filename,
            bytes=size,
            lines=lines,
            storage=storage.name,
            created_at=int(time.time()),
        )
        async with self.sessions() as session, session.begin():
            await session.merge(row)
        return row

    async def get(self, owner: str, file_id: str) -> StoredFile:
        async with self.sessions() as session:
            row: StoredFile | None = await session.get(StoredFile, file_id)
        if row is None or row.owner != owner:
            raise file_not_found(file_id)
        return row

    async def list(
        self, owner: str, *, limit: int, after: str | None, order: str, purpose: str | None
    ) -> tuple[list[StoredFile], bool]:
        stmt = select(StoredFile).where(StoredFile.owner == owner)
        if purpose:
            stmt = stmt.where(StoredFile.purpose == purpose)
        if order == "asc":
            if after:
                stmt = stmt.where(StoredFile.id > after)
            stmt = stmt.order_by(StoredFile.id.asc())
        else:
            if after:
                stmt = stmt.where(StoredFile.id < after)
            stmt = stmt.order_by(StoredFile.id.desc())
        async with self.sessions() as session:
            rows = list((await session.execute(stmt.limit(limit + 1))).scalars())
        return rows[:limit], len(rows) > limit

    def content(self, row: StoredFile) -> AsyncIterator[bytes]:
        return self.storages.get(row.storage).read(row.id)

    async def delete(self, owner: str, file_id: str) -> None:
        row = await self.get(owner, file_id)
        await self.remove(row)

    async def remove(self, row: StoredFile) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(delete(StoredFile).where(StoredFile.id == row.id))
        await self.storages.get(row.storage).delete(row.id)
