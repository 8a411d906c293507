"""Identifiers: ULIDs (sortable, URL-safe) for keys, requests and stored objects."""

from __future__ import annotations

import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid() -> str:
    """A 26-character ULID: 48-bit millisecond time + 80 random bits."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    out = []
    for _ in range(26):
        out.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(out))


def request_id() -> str:
    return "req_" + ulid()


def prefixed(prefix: str) -> str:
    return f"{prefix}_{ulid()}"
