"""The authenticated caller, as every later stage (limits, billing, storage) sees it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    owner: str
    realm: str  # "data" (rsk key), "control" (JWT) or "admin"
    key_id: str | None = None
    rpm: int | None = None
    rpd: int | None = None
    tpm: int | None = None
