"""ULIDs made one at a time and in runs (``ids.ulids``, the request log's row ids) have the same shape."""

from __future__ import annotations

import re

import pytest

from meshapi_gateway.ids import ulid, ulids

ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


def test_a_run_of_ulids_is_unique_sorted_and_shaped_like_one() -> None:
    one = ulid()
    run = ulids(2500, "log_")  # more than one run of 1,024
    assert len(run) == 2500 and len(set(run)) == 2500
    assert all(i.startswith("log_") and ULID.fullmatch(i[4:]) for i in run)
    assert all(i[4:14] >= one[:10] for i in run)  # the same millisecond time half, or later
    for start in (0, 1024, 2048):  # within a run the ids count up
        part = run[start : start + 1024]
        assert part == sorted(part)
    assert ulids(0) == []


def test_the_time_half_spells_the_millisecond_across_the_cached_part(monkeypatch: pytest.MonkeyPatch) -> None:
    """The time half's first four pairs are kept per 1,024 ms; every id still decodes to its own millisecond."""
    import meshapi_gateway.ids as ids

    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    start = 1_765_000_000_000 - 3
    for ms in [*range(start, start + 2100, 7), 0, 1023, 1024, 2**48 - 1]:
        monkeypatch.setattr(ids.time, "time_ns", lambda ms=ms: ms * 1_000_000 + 999_999)
        made = ulid()
        assert ULID.fullmatch(made)
        decoded = 0
        for char in made[:10]:
            decoded = decoded * 32 + alphabet.index(char)
        assert decoded == ms


def test_counted_ids_are_unique_shaped_and_spell_their_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ids.Counted`` (the ledger's row ids): past a run of 1,024 and across milliseconds, every id is new."""
    import meshapi_gateway.ids as ids

    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    made = ids.Counted("led_")
    now = [1_765_000_000_000]
    monkeypatch.setattr(ids.time, "time_ns", lambda: now[0] * 1_000_000 + 5)
    out = []
    for step in range(3000):
        if step % 700 == 0:
            now[0] += 1
        out.append((now[0], made()))
    assert len({i for _, i in out}) == len(out)
    for ms, made_id in out:
        assert made_id.startswith("led_") and ULID.fullmatch(made_id[4:])
        decoded = 0
        for char in made_id[4:14]:
            decoded = decoded * 32 + alphabet.index(char)
        assert decoded == ms
    same_ms = [i for ms, i in out[:700]]
    assert same_ms == sorted(same_ms)  # within one run and millisecond they count up
