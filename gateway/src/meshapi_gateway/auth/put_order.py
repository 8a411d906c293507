"""Keeping a cache refresh from undoing a change this process applied while the refresh read.

The key and team caches re-read changed rows in the background, and the control plane
applies its own changes to them at once (``put``). A refresh whose read started before a
suspension was committed can finish after the suspension's ``put``: written blindly, its
older row would bring the key back to life until the next refresh. So every ``put`` is
numbered; a reader notes the number before it reads, and a row read for an entry put after
that is left alone and re-read by the next refresh, which starts after the put and so sees
the committed change (or a newer one made elsewhere).
"""

from __future__ import annotations


class PutOrder:
    def __init__(self) -> None:
        self._count = 0
        # The number of each entry's latest put; one int per entry ever put by this process.
        self._last: dict[str, int] = {}
        self._missed: set[str] = set()

    def mark(self) -> int:
        """Taken by a reader before it reads; pass it to ``older`` for each row it read."""
        return self._count

    def put(self, ident: str) -> None:
        """This process changed (or dropped) ``ident`` just now, from a committed row."""
        self._count += 1
        self._last[ident] = self._count

    def older(self, ident: str, mark: int) -> bool:
        """Whether a row read since ``mark`` may predate this process's last put of ``ident``.

        Such a row is not applied; ``ident`` is then in ``reread`` for the next refresh.
        """
        if self._last.get(ident, 0) > mark:
            self._missed.add(ident)
            return True
        return False

    def reread(self) -> list[str]:
        """Entries whose rows a reader skipped: the next refresh reads them whatever their time."""
        return list(self._missed)

    def reread_done(self, idents: list[str]) -> None:
        """A refresh has read ``idents`` (from ``reread``): call it before checking the rows with ``older``,
        which adds back any of them put again while it read."""
        self._missed.difference_update(idents)
