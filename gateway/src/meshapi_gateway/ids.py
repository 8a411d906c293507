"""Identifiers: ULIDs (sortable, URL-safe) for keys, requests and stored objects."""

from __future__ import annotations

import random
import time

_random_bits = random.Random().getrandbits  # seeded from the OS at start-up

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Every 10-bit value as its two Crockford characters: 13 lookups make a whole ULID.
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]
_SHIFTS = range(120, -1, -10)


def ulid() -> str:
    """26 characters: 48-bit millisecond time then 80 random bits (a ULID, sortable by time).

    Made several times per request, so it is built from a pair table rather than five bits
    at a time.
    """
    # Ids are not secrets (keys are made with ``secrets``): the process's seeded PRNG is
    # enough for uniqueness and avoids a system call per id.
    value = ((time.time_ns() // 1_000_000) << 80) | _random_bits(80)
    pairs = _PAIRS
    return "".join([pairs[(value >> shift) & 1023] for shift in _SHIFTS])


def request_id() -> str:
    return "req_" + ulid()


def prefixed(prefix: str) -> str:
    return f"{prefix}_{ulid()}"
