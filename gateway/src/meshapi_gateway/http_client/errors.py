"""What an upstream exchange can fail with.

Two families only, because the router needs only two answers: did the upstream take too
long (``UpstreamTimeout``, also a ``TimeoutError``), or did the connection fail
(``TransportError``). Both say in which phase it happened, which goes into the message
the client sees.
"""

from __future__ import annotations


class TransportError(Exception):
    """The connection could not be made, broke, or carried something that is not HTTP/1.1."""


class UpstreamTimeout(TransportError, TimeoutError):
    """No progress within a timeout; ``phase`` is ``connect``, ``read`` or ``total``."""

    def __init__(self, phase: str, seconds: float) -> None:
        super().__init__(
            f"no {phase} progress within {seconds:g} s"
            if phase != "total"
            else "the exchange took longer than its total timeout"
        )
        self.phase = phase
        self.seconds = seconds


class ConnectTimeout(UpstreamTimeout):
    def __init__(self, seconds: float) -> None:
        super().__init__("connect", seconds)
