"""Identifiers: ULIDs (sortable, URL-safe) for keys, requests and stored objects."""

from __future__ import annotations

import base64
import os
import time

# RFC 4648 base32 → Crockford's alphabet (no I, L, O, U), so ids read like ULIDs.
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def ulid() -> str:
    """26 characters: 48-bit millisecond time then 80 random bits, most significant first.

    Built with the C base32 encoder (the id is made several times per request); the two
    spare bits sit at the end instead of the start, which keeps the time order.
    """
    raw = (time.time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(10)
    return base64.b32encode(raw)[:26].translate(_TO_CROCKFORD).decode()


def request_id() -> str:
    return "req_" + ulid()


def prefixed(prefix: str) -> str:
    return f"{prefix}_{ulid()}"
