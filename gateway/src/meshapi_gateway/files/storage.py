"""Where file bytes live, behind one interface: a local folder (default) or the database.

The folder suits one machine (or a shared disk); the database suits several gateway
machines without a shared disk. Both write and read in chunks, so neither an upload nor
a download is ever held whole in memory.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import AsyncIterable, AsyncIterator, Protocol

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from meshapi_gateway.store.batches_tables import FileChunk
from meshapi_gateway.store.private_files import open_private, private_dir

CHUNK_BYTES = 256 * 1024


class FileStorage(Protocol):
    name: str

    async def write(self, file_id: str, chunks: AsyncIterable[bytes]) -> int:
        """Store the bytes (replacing any earlier ones of that id) and return how many there were."""

    def read(self, file_id: str) -> AsyncIterator[bytes]:
        """The bytes in order, a chunk at a time."""

    async def delete(self, file_id: str) -> None:
        """Forget the bytes; deleting what is not there is not an error."""


async def rechunk(chunks: AsyncIterable[bytes], size: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
    """Regroup arbitrary pieces into chunks of ``size`` bytes (the last may be shorter)."""
    buf = bytearray()
    async for piece in chunks:
        buf += piece
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    if buf:
        yield bytes(buf)


class LocalStorage:
    """One file per id in a folder; written under a temporary name and renamed when complete."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, file_id: str) -> Path:
        if not file_id or "/" in file_id or file_id.startswith("."):
            raise ValueError(f"bad file id {file_id!r}")
        return self.root / file_id

    async def write(self, file_id: str, chunks: AsyncIterable[bytes]) -> int:
        final = self._path(file_id)
        await asyncio.to_thread(private_dir, self.root)
        part = self.root / f".{file_id}.part"
        handle = await asyncio.to_thread(open_private, part)
        size = 0
        try:
            async for chunk in rechunk(chunks):
                await asyncio.to_thread(handle.write, chunk)
                size += len(chunk)
            await asyncio.to_thread(handle.flush)
            await asyncio.to_thread(os.fsync, handle.fileno())
        except BaseException:
            handle.close()
            await asyncio.to_thread(part.unlink, missing_ok=True)
            raise
        handle.close()
        await asyncio.to_thread(os.replace, part, final)
        return size

    async def read(self, file_id: str) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(open, self._path(file_id), "rb")
        try:
            while True:
                chunk = await asyncio.to_thread(handle.read, CHUNK_BYTES)
                if not chunk:
                    return
                yield chunk
        finally:
            handle.close()

    async def delete(self, file_id: str) -> None:
        await asyncio.to_thread(self._path(file_id).unlink, missing_ok=True)


class DatabaseStorage:
    """Rows of ``file_chunks`` (id, seq, bytes); read back one row per query."""

    name = "database"

    def __init__(self, sessions: async_sessionmaker) -> None:  # type: ignore[type-arg]
        self.sessions = sessions

    async def write(self, file_id: str, chunks: AsyncIterable[bytes]) -> int:
        size = 0
        async with self.sessions() as session, session.begin():
            await session.execute(delete(FileChunk).where(FileChunk.file_id == file_id))
            seq = 0
            async for chunk in rechunk(chunks):
                await session.execute(insert(FileChunk).values(file_id=file_id, seq=seq, data=chunk))
                seq += 1
                size += len(chunk)
        return size

    async def read(self, file_id: str) -> AsyncIterator[bytes]:
        seq = 0
        while True:
            async with self.sessions() as session:
                data = (
                    await session.execute(
                        select(FileChunk.data).where(FileChunk.file_id == file_id, FileChunk.seq == seq)
                    )
                ).scalar_one_or_none()
            if data is None:
                return
            yield bytes(data)
            seq += 1

    async def delete(self, file_id: str) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(delete(FileChunk).where(FileChunk.file_id == file_id))


class Storages:
    """The configured storage for new files, and every storage by name for reading old ones."""

    def __init__(self, default: str, local: LocalStorage, database: DatabaseStorage) -> None:
        self.by_name: dict[str, FileStorage] = {local.name: local, database.name: database}
        self.default = self.by_name[default]

    def get(self, name: str) -> FileStorage:
        return self.by_name[name]
