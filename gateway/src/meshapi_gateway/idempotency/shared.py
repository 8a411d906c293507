"""Idempotency claims and answers in Redis, so every replica agrees without the database.

One Redis key per owner and key: ``SET NX PX`` claims it with a "running" marker that
expires on its own if its replica dies; finishing swaps the marker for the answer with
the full TTL, releasing deletes it — both only if the marker is still ours (a Lua
compare-and-set), so a replica that lost its claim cannot overwrite another's answer.
Keys of one owner share a hash tag, so this also works on Redis Cluster.

A replica that is killed leaves its "running" markers behind, and until they expire a client
retrying on another replica would get 409 for minutes. So each replica keeps a heartbeat key
alive (``meshapi:idem:alive:<replica>``, refreshed every second, gone five seconds after the
replica stops), its markers name it, and a claim that finds a marker of a replica whose heartbeat
is gone takes the key over (a compare-and-set on the marker it read): the retry runs, once.

Value layout (bytes): ``running <replica>.<token> <fingerprint>`` or
``done <fingerprint> <json meta>\\n<body>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from meshapi_gateway.attempt_claim import Claim, Fate
from meshapi_gateway.idempotency.store import StoredResponse

log = logging.getLogger("meshapi_gateway.idempotency")

ClaimOutcome = Literal["claimed", "done", "running", "mismatch"]

HEARTBEAT_SECONDS = 1.0
ALIVE_MS = 5000  # a replica silent this long is dead: its running markers may be taken over

SWAP_IF_MINE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 0
"""
DELETE_IF_MINE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(slots=True)
class SharedClaim:
    outcome: ClaimOutcome
    marker: bytes = b""  # the "running" value this replica holds (when claimed)
    response: StoredResponse | None = None
    expires_at: int = 0


def redis_key(owner: str, key_hash: str) -> str:
    return f"meshapi:idem:{{{owner}}}:{key_hash}"


def alive_key(replica: bytes) -> str:
    return "meshapi:idem:alive:" + replica.decode()


def marker_replica(value: bytes) -> bytes | None:
    """The replica named by a "running" marker (None for a marker of a version that named none)."""
    parts = value.split(b" ", 2)
    if len(parts) < 2 or parts[0] != b"running" or b"." not in parts[1]:
        return None
    return parts[1].split(b".", 1)[0]


def marker_token(marker: bytes) -> str:
    parts = marker.split(b" ", 2)
    return parts[1].decode() if len(parts) > 1 else ""


def encode_done(fingerprint: str, response: StoredResponse, expires_at: int, by: str = "") -> bytes:
    # ``by``: the token of the attempt whose answer this is (attempt_fate reads it).
    meta = orjson.dumps({"status": response.status, "headers": response.headers, "expires_at": expires_at, "by": by})
    return b"done " + fingerprint.encode() + b" " + meta + b"\n" + response.body


def decode(value: bytes, fingerprint: str) -> SharedClaim:
    head, _, body = value.partition(b"\n")
    parts = head.split(b" ", 2)
    kind = parts[0]
    stored_fp = (parts[1] if kind == b"done" else parts[2] if len(parts) > 2 else b"").decode()
    if stored_fp != fingerprint:
        return SharedClaim("mismatch")
    if kind != b"done":
        return SharedClaim("running")
    meta = orjson.loads(parts[2])
    headers = [(str(k), str(v)) for k, v in meta["headers"]]
    return SharedClaim(
        "done", response=StoredResponse(int(meta["status"]), headers, body), expires_at=int(meta["expires_at"])
    )


class SharedClaims:
    def __init__(self, redis: Any, ttl_seconds: int, running_seconds: int) -> None:
        self.redis = redis
        self.ttl_ms = ttl_seconds * 1000
        self.running_ms = running_seconds * 1000
        self._swap = redis.register_script(SWAP_IF_MINE)
        self._delete = redis.register_script(DELETE_IF_MINE)
        self.replica = secrets.token_hex(6).encode()
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._heartbeat = asyncio.create_task(self._beat(), name="idempotency-heartbeat")

    async def aclose(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        with contextlib.suppress(Exception):
            await self.redis.delete(alive_key(self.replica))  # its markers are all settled by now

    async def _beat(self) -> None:
        while True:
            try:
                await self.redis.set(alive_key(self.replica), b"1", px=ALIVE_MS)
            except Exception:  # Redis away: the claims fall back to this process (service.py)
                log.debug("idempotency heartbeat failed", exc_info=True)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def claim(self, owner: str, key_hash: str, fingerprint: str) -> SharedClaim:
        key = redis_key(owner, key_hash)
        marker = b"running " + self.replica + b"." + secrets.token_hex(8).encode() + b" " + fingerprint.encode()
        for _ in range(3):
            if await self.redis.set(key, marker, nx=True, px=self.running_ms):
                return SharedClaim("claimed", marker)
            value = await self.redis.get(key)
            if value is None:
                continue  # released or expired in between: claim again
            found = decode(bytes(value), fingerprint)
            if found.outcome == "running" and await self._holder_is_dead(bytes(value)):
                if await self._swap(keys=[key], args=[bytes(value), marker, self.running_ms]):
                    log.info("took over an idempotency key whose replica stopped answering")
                    return SharedClaim("claimed", marker)
                continue  # someone else settled or took it first: look again
            return found
        return SharedClaim("running")

    async def _holder_is_dead(self, value: bytes) -> bool:
        replica = marker_replica(value)
        if replica is None or replica == self.replica:
            return False  # our own (a local duplicate waits in memory) or unknown: left to expire
        return not await self.redis.exists(alive_key(replica))

    async def complete(
        self,
        owner: str,
        key_hash: str,
        marker: bytes,
        fingerprint: str,
        response: StoredResponse,
        expires_at: int,
        now: int,
    ) -> None:
        ttl_ms = max(1, expires_at - now) * 1000
        await self._swap(
            keys=[redis_key(owner, key_hash)],
            args=[marker, encode_done(fingerprint, response, expires_at, marker_token(marker)), ttl_ms],
        )

    async def attempt_fate(self, claim: Claim) -> Fate:
        """For the journal replay of a dead replica: what to do with the bill of the attempt ``claim``."""
        value = await self.redis.get(redis_key(claim.owner, claim.key_hash))
        if value is None:
            return "bill"  # expired or Redis restarted: nothing says the answer was not delivered
        head = bytes(value).partition(b"\n")[0]
        parts = head.split(b" ", 2)
        if parts[0] == b"running":
            # Still its own marker: the client has not retried (yet); another's: a retry took over.
            return "wait" if marker_token(head) == claim.token else "void"
        by = str(orjson.loads(parts[2]).get("by", "")) if len(parts) > 2 else ""
        return "void" if by and by != claim.token else "bill"

    async def release(self, owner: str, key_hash: str, marker: bytes) -> None:
        await self._delete(keys=[redis_key(owner, key_hash)], args=[marker])
