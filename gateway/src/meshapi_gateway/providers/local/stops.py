"""The client's stop sequences, matched by the gateway on the local model's text as it streams.

llama.cpp stops at a stop string but does not say which one ended the answer (nor whether a
stop string or the model's own end of turn did), and Anthropic's ``stop_sequence`` names it.
So only the model's end-of-turn marker is sent as a stop; the client's sequences are matched
here, on the answer's text only (never inside a tool call): text that may be the start of a
sequence is held back until it is known not to be, and a match ends the answer before it.
"""

from __future__ import annotations


class StopMatcher:
    __slots__ = ("hit", "pending", "stops")

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.pending = ""  # text held back: it may be the start of a stop sequence
        self.hit: str | None = None  # the sequence that ended the answer

    def feed(self, text: str) -> str:
        """The part of ``text`` (after what was held back) that may be sent now; after a match, the rest before it."""
        if self.hit is not None:
            return ""
        text = self.pending + text
        first: tuple[int, str] | None = None
        for stop in self.stops:
            at = text.find(stop)
            if at >= 0 and (first is None or at < first[0]):
                first = (at, stop)
        if first is not None:
            self.hit, self.pending = first[1], ""
            return text[: first[0]]
        keep = self._open_prefix(text)
        self.pending = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def rest(self) -> str:
        """What was held back, at the end of an answer that no sequence stopped."""
        rest, self.pending = self.pending, ""
        return rest

    def _open_prefix(self, text: str) -> int:
        """The length of the longest end of ``text`` that begins some stop sequence."""
        longest = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:size]):
                    longest = size
                    break
        return longest
