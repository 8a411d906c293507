"""Fewer malloc arenas in a serving process (glibc only): resident memory that levels off under load.

glibc gives a thread that finds the allocator busy an arena of its own, up to eight per
core, and memory freed inside an arena mostly stays with the process. Besides the event
loop, a serving gateway has the request log's and the ledger's SQLite writer threads, the
idempotency writer's and the database driver's threads: each ended up with an arena that
grew with the largest batch it handled, so a soak's RSS kept stepping up for a minute after
the load started. Capped at two arenas (60 s at c=50 with the request log on, five runs
each): RSS growth over the last 40 s 0.1-2.1 MiB against 0.4-4.6 MiB (seven runs), and
about 1.7 MiB less at the end, with no change in the writer threads' CPU. ``malloc_trim``
after each batch was tried too and changed nothing: what grew was in use, not free.

Must run before those threads start. An operator's own ``MALLOC_ARENA_MAX`` (or glibc
tunable) wins; anywhere but glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import os

ARENA_MAX = 2
_M_ARENA_MAX = -8  # glibc's malloc.h


def limit_malloc_arenas(arenas: int = ARENA_MAX) -> bool:
    """Cap the process's malloc arenas; False where nothing was changed."""
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        return False
    if not libc.startswith("glibc"):
        return False
    if "MALLOC_ARENA_MAX" in os.environ or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))
