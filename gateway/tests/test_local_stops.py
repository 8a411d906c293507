"""The local model's stop-sequence matching (``providers/local/stops.py``) on text as it streams."""

from __future__ import annotations

from meshapi_gateway.providers.local.stops import StopMatcher


def _run(stops: list[str], pieces: list[str]) -> tuple[str, str | None]:
    matcher = StopMatcher(stops)
    out = ""
    for piece in pieces:
        out += matcher.feed(piece)
        if matcher.hit is not None:
            return out, matcher.hit
    return out + matcher.rest(), None


def test_a_sequence_split_across_pieces_ends_the_text_before_it() -> None:
    assert _run(["END"], ["one E", "N", "D two"]) == ("one ", "END")


def test_a_held_back_start_that_goes_nowhere_is_sent() -> None:
    matcher = StopMatcher(["END"])
    assert matcher.feed("one EN") == "one "  # "EN" may begin "END": held back
    assert matcher.feed("ough") == "ENough"
    assert _run(["END"], ["the E"]) == ("the E", None)  # held to the end, then sent


def test_the_earliest_sequence_wins() -> None:
    assert _run(["two", " "], ["one two"]) == ("one", " ")
    assert _run(["b", "abc"], ["xab", "c"]) == ("xa", "b")
