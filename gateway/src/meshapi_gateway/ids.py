"""Identifiers: ULIDs (sortable, URL-safe) for keys, requests and stored objects."""

from __future__ import annotations

import random
import time

_random_bits = random.Random().getrandbits  # seeded from the OS at start-up

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Every 10-bit value as its two Crockford characters: 13 lookups make a whole ULID.
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]
_TIME_SHIFTS = range(40, -1, -10)  # 48 bits of milliseconds, two zero bits ahead: five pairs
_RUN_SHIFTS = range(60, -1, -10)  # ``ulids``: 70 random bits, seven pairs; the eighth counts

# The time half changes once a millisecond, so it is spelled once a millisecond; its first four
# pairs change once every 1,024 ms, so under load (a new millisecond every id or two) only the
# last pair is looked up again.
_time_half: tuple[int, str] = (-1, "")
_time_top: tuple[int, str] = (-1, "")


def ulid() -> str:
    """26 characters: 48-bit millisecond time then 80 random bits (a ULID, sortable by time).

    Made several times per request, so it is built from a pair table rather than five bits
    at a time, and the time half is reused within a millisecond.
    """
    global _time_half, _time_top
    # Ids are not secrets (keys are made with ``secrets``): the process's seeded PRNG is
    # enough for uniqueness and avoids a system call per id.
    ms = time.time_ns() // 1_000_000
    last, head = _time_half
    pairs = _PAIRS
    if ms != last:
        seconds = ms >> 10
        top_of, top = _time_top
        if seconds != top_of:
            top = "".join(
                (pairs[(ms >> 40) & 1023], pairs[(ms >> 30) & 1023], pairs[(ms >> 20) & 1023], pairs[seconds & 1023])
            )
            _time_top = (seconds, top)
        head = top + pairs[ms & 1023]
        _time_half = (ms, head)
    # The 80 random bits drawn as eight 10-bit numbers, each the index of its pair: a draw of up to
    # 32 bits is one word of the generator, and no shift or mask makes a new int (about 1.2k fewer
    # instructions an id than 30 + 30 + 20 bits cut apart). The pairs spelled out: a comprehension
    # is a call of its own.
    bits = _random_bits
    return "".join(
        (
            head,
            pairs[bits(10)],
            pairs[bits(10)],
            pairs[bits(10)],
            pairs[bits(10)],
            pairs[bits(10)],
            pairs[bits(10)],
            pairs[bits(10)],
            pairs[bits(10)],
        )
    )


def ulids(count: int, prefix: str = "") -> list[str]:
    """``count`` ULIDs of this millisecond (each after ``prefix``), made at once as runs that count up.

    A writer that names a whole batch of rows pays for one ULID per 1,024 ids: the first 70
    random bits are drawn once a run, and the last ten bits count the run's ids (as a
    monotonic ULID generator increments the random part), so ids stay unique and sortable.
    """
    global _time_half
    ms = time.time_ns() // 1_000_000
    last, head = _time_half
    pairs = _PAIRS
    if ms != last:
        head = "".join([pairs[(ms >> shift) & 1023] for shift in _TIME_SHIFTS])
        _time_half = (ms, head)
    out: list[str] = []
    while len(out) < count:
        bits = _random_bits(70)
        run = prefix + head + "".join([pairs[(bits >> shift) & 1023] for shift in _RUN_SHIFTS])
        out += [run + last_pair for last_pair in pairs[: count - len(out)]]
    return out


def _time_head(ms: int) -> str:
    """The ten characters of millisecond ``ms`` (the time half ``ulid`` spells), through the same caches."""
    global _time_half, _time_top
    last, head = _time_half
    if ms == last:
        return head
    seconds = ms >> 10
    top_of, top = _time_top
    pairs = _PAIRS
    if seconds != top_of:
        top = "".join(
            (pairs[(ms >> 40) & 1023], pairs[(ms >> 30) & 1023], pairs[(ms >> 20) & 1023], pairs[seconds & 1023])
        )
        _time_top = (seconds, top)
    head = top + pairs[ms & 1023]
    _time_half = (ms, head)
    return head


class Counted:
    """ULIDs after ``prefix`` made one at a time as ``ulids`` makes a batch: runs that count up.

    For ids made once a request (ledger rows): the first 70 random bits are drawn once per 1,024
    ids and the last ten count, so an id costs a time check and a concatenation, not eight draws
    (``ulid``). Ids stay unique (a run's count never repeats within it, and each run draws anew)
    and sortable by time; within one millisecond they count up, as a monotonic ULID generator's do.
    It reads and writes its count without a lock: call it from one thread only (the ledger makes
    every bill on the event loop's thread); two threads could take the same count.
    """

    __slots__ = ("_count", "_head", "_ms", "_prefix", "_run", "_stem", "_top_of")

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._ms = -1
        self._top_of = -1
        self._head = ""  # the prefix and the time's first four pairs, of ``_top_of`` (ms >> 10)
        self._run = ""
        self._stem = ""
        self._count = 1024  # the first id draws a run

    def __call__(self) -> str:
        ms = time.time_ns() // 1_000_000
        count = self._count
        if count == 1024:
            bits = _random_bits(70)
            self._run = "".join([_PAIRS[(bits >> shift) & 1023] for shift in _RUN_SHIFTS])
            count = 0
            self._ms = -1  # the stem holds the old run
        if ms != self._ms:
            # A new millisecond is most ids' case (one a bill): only the time's last pair is new, and the
            # rest is kept here rather than asked of ``_time_head`` (a call and a join: about 2 k instructions).
            self._ms = ms
            if ms >> 10 != self._top_of:
                self._top_of = ms >> 10
                self._head = self._prefix + _time_head(ms)[:8]
            self._stem = self._head + _PAIRS[ms & 1023] + self._run
        self._count = count + 1
        return self._stem + _PAIRS[count]


def request_id() -> str:
    return "req_" + ulid()


def prefixed(prefix: str) -> str:
    return f"{prefix}_{ulid()}"
