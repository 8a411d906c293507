"""Idempotency claims and answers in Redis, so every replica agrees without the database.

One Redis key per owner and key: ``SET NX PX`` claims it with a "running" marker that
expires on its own if its replica dies; finishing swaps the marker for the answer with
the full TTL, releasing deletes it — both only if the marker is still ours (a Lua
compare-and-set), so a replica that lost its claim cannot overwrite another's answer.
Keys of one owner share a hash tag, so this also works on Redis Cluster.

Value layout (bytes): ``running <token> <fingerprint>`` or
``done <fingerprint> <json meta>\\n<body>``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from meshapi_gateway.idempotency.store import StoredResponse

ClaimOutcome = Literal["claimed", "done", "running", "mismatch"]

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


def encode_done(fingerprint: str, response: StoredResponse, expires_at: int) -> bytes:
    meta = orjson.dumps({"status": response.status, "headers": response.headers, "expires_at": expires_at})
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
    return SharedClaim("done", response=StoredResponse(int(meta["status"]), headers, body),
                       expires_at=int(meta["expires_at"]))


class SharedClaims:
    def __init__(self, redis: Any, ttl_seconds: int, running_seconds: int) -> None:
        self.redis = redis
        self.ttl_ms = ttl_seconds * 1000
        self.running_ms = running_seconds * 1000
        self._swap = redis.register_script(SWAP_IF_MINE)
        self._delete = redis.register_script(DELETE_IF_MINE)

    async def claim(self, owner: str, key_hash: str, fingerprint: str) -> SharedClaim:
        key = redis_key(owner, key_hash)
        marker = b"running " + secrets.token_hex(8).encode() + b" " + fingerprint.encode()
        for _ in range(3):
            if await self.redis.set(key, marker, nx=True, px=self.running_ms):
                return SharedClaim("claimed", marker)
            value = await self.redis.get(key)
            if value is not None:
                return decode(bytes(value), fingerprint)
            # released or expired in between: claim again
        return SharedClaim("running")

    async def complete(self, owner: str, key_hash: str, marker: bytes, fingerprint: str,
                       response: StoredResponse, expires_at: int, now: int) -> None:
        ttl_ms = max(1, expires_at - now) * 1000
        await self._swap(keys=[redis_key(owner, key_hash)],
                         args=[marker, encode_done(fingerprint, response, expires_at), ttl_ms])

    async def release(self, owner: str, key_hash: str, marker: bytes) -> None:
        await self._delete(keys=[redis_key(owner, key_hash)], args=[marker])
