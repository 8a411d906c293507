"""A file journal of the usage records not yet in the ledger, so a killed process loses no bill.

``record`` (the request path) queues a record for the database and answers the client, which
sees the cost; the database write follows within ``ledger_flush_seconds``. A process killed in
between (SIGKILL, the out-of-memory killer) would lose bills its clients saw. So each record is
also appended to a journal file in the data folder before the client is answered: one
``write`` to a file opened ``O_APPEND`` (a few microseconds, no ``fsync``: the kernel keeps what
a killed process wrote; only a crash of the machine itself could lose the last seconds).

The journal is written in segments: the writer starts a new segment before each batch, and a
segment whose records are all in the database is deleted. A process holds an exclusive
``flock`` on its own lock file for as long as it lives; a starting process replays (into the
ledger, where row ids make a replay of an already written row harmless) and deletes the
segments of every process whose lock is free, that is of every process that died. With
``--workers N`` the workers share the folder and each keeps its own files.

A journaled bill of a request that ran under an idempotency claim carries the claim. The
process may have died before its answer reached the client, who then retried; the retry ran
(and was billed) elsewhere. The replay asks what became of the claim (``attempt_claim.Fate``):
taken over or answered by another attempt, the bill is dropped; still held by the dead
attempt, it waits (up to ``DEFER_SECONDS``) for a retry that may yet come, then bills.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import orjson

from meshapi_gateway.attempt_claim import CURRENT, Claim
from meshapi_gateway.billing.usage import UsageRecord

log = logging.getLogger("meshapi_gateway.billing")

# The keys of a dict line (as versions before the array wrote them), less team_id, id, cost and claim.
_FIELDS = (
    "request_id",
    "owner",
    "key_id",
    "model",
    "provider",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "kind",
    "created_at",
)


@dataclass(slots=True)
class Entry:
    row_id: str
    record: UsageRecord
    cost: Decimal
    claim: Claim | None  # the idempotency claim the request ran under (attempt_claim.py)


def encode(row_id: str, record: UsageRecord, cost: Decimal, claim: Claim | None = None) -> bytes:
    # A JSON array of the dict line's values, in its key order: half the instructions of the 13-key dict
    # built and encoded (one line per billed answer); ``decode`` still reads dict lines of earlier versions.
    data: list[object] = [
        record.request_id,
        record.owner,
        record.key_id,
        record.model,
        record.provider,
        record.prompt_tokens,
        record.completion_tokens,
        record.cached_tokens,
        record.kind,
        record.created_at,
        record.team_id,
        row_id,
        str(cost),
    ]
    if claim is not None:
        data.append(list(claim))
    return orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE)


def decode(line: bytes) -> Entry:
    data = orjson.loads(line)
    if type(data) is list:
        # A wrong number of values (not a line ``encode`` wrote) raises ValueError, as a cut line does.
        (
            request_id,
            owner,
            key_id,
            model,
            provider,
            prompt,
            completion,
            cached,
            kind,
            created_at,
            team_id,
            row_id,
            text,
            *rest,
        ) = data
        if len(rest) > 1:
            raise ValueError("a journal line with more values than a claim")
        cost = Decimal(text)
        record = UsageRecord(
            request_id, owner, key_id, model, provider, prompt, completion, cached, cost, kind, created_at, team_id
        )
        return Entry(str(row_id), record, cost, Claim(*rest[0]) if rest and rest[0] else None)
    # A dict line, as versions before the array wrote them.
    record = UsageRecord(cost=Decimal(data["cost"]), **{name: data[name] for name in _FIELDS})
    # A line journaled before ``team_id`` was written has none: the row is billed to no team, as it was then.
    record.team_id = data.get("team_id")
    claim = Claim(*data["claim"]) if data.get("claim") else None
    return Entry(str(data["id"]), record, Decimal(data["cost"]), claim)


class Journal:
    """This process's journal: numbered segments under ``folder``, guarded by a lock file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.segment = 0
        self._fd = -1
        self._lock_fd = -1

    def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_fd = os.open(self.folder / f"{self.name}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._open_segment()

    def _path(self, name: str, segment: int) -> Path:
        return self.folder / f"{name}.{segment}.jsonl"

    def _open_segment(self) -> None:
        self._fd = os.open(self._path(self.name, self.segment), os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)

    def append(self, row_id: str, record: UsageRecord, cost: Decimal) -> int:
        """Journal one record; returns the segment it went to."""
        if self._fd >= 0:
            try:
                os.write(self._fd, encode(row_id, record, cost, CURRENT.get()))
            except OSError:  # a full disk must not fail the request; the database write still follows
                log.exception("could not journal a usage record")
        return self.segment

    def rotate(self) -> None:
        """Start a new segment (before the writer takes a batch)."""
        if self._fd < 0:
            return
        os.close(self._fd)
        self.segment += 1
        self._open_segment()

    def written_up_to(self, segment: int) -> None:
        """Every record of the segments before ``segment`` is in the database: delete them."""
        for path in self.folder.glob(f"{self.name}.*.jsonl"):
            number = int(path.name.rsplit(".", 2)[1])
            if number < segment and number != self.segment:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def close(self, drained: bool) -> None:
        """Graceful stop: with everything written, this process leaves no journal behind."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if drained:
            for path in self.folder.glob(f"{self.name}.*"):
                if not path.name.endswith(".lock"):
                    path.unlink(missing_ok=True)
            (self.folder / f"{self.name}.lock").unlink(missing_ok=True)
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    # -- the dead ------------------------------------------------------------
    def orphans(self) -> Iterator[tuple[Path, int, list[Path]]]:
        """Lock files of processes that are gone (their lock is free) with their segments, each locked by
        us through the descriptor yielded (the caller closes it when done with the files)."""
        for lock_path in sorted(self.folder.glob("*.lock")):
            name = lock_path.name[: -len(".lock")]
            if name == self.name:
                continue
            try:
                fd = os.open(lock_path, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # alive
            segments = sorted(self.folder.glob(f"{name}.*.jsonl"), key=lambda p: int(p.name.rsplit(".", 2)[1]))
            yield lock_path, fd, segments


def read_segments(paths: list[Path]) -> list[Entry]:
    out = []
    for path in paths:
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                out.append(decode(line))
            except (ValueError, KeyError, TypeError):  # a line cut by the kill itself: nobody saw its cost
                log.warning("skipping an unreadable journal line in %s", path.name)
    return out
