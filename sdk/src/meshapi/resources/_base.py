"""Base classes of the resource objects: they only hold the transport."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._base_client import AsyncTransport, SyncTransport

__all__ = ["AsyncAPIResource", "SyncAPIResource"]


class SyncAPIResource:
    __slots__ = ("_t",)

    def __init__(self, transport: SyncTransport) -> None:
        self._t = transport


class AsyncAPIResource:
    __slots__ = ("_t",)

    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport
