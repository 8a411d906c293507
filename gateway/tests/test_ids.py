"""ULIDs made one at a time and in runs (``ids.ulids``, the request log's row ids) have the same shape."""

from __future__ import annotations

import re

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
