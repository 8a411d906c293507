"""Searching the catalog (``GET /v1/models/search``): text, filters, sort and paging over wire objects.

Pure over the listing the catalog already renders, so the search costs no more than a
scan of the catalog in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Sequence

SORTS = ("brand", "name", "id", "context_length")
MAX_LIMIT = 200
DEFAULT_LIMIT = 50


@dataclass(frozen=True, slots=True)
class SearchQuery:
    q: str = ""
    free: bool | None = None
    discounted: bool | None = None
    input_modality: Sequence[str] = field(default_factory=tuple)
    output_modality: Sequence[str] = field(default_factory=tuple)
    brand: Sequence[str] = field(default_factory=tuple)
    sort: str | None = None
    descending: bool = False
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def _discounted(model: dict[str, Any]) -> bool:
    pct = (model.get("pricing") or {}).get("discount_pct")
    return pct is not None and Decimal(pct) > 0


def _matches(model: dict[str, Any], query: SearchQuery) -> bool:
    if query.q:
        needle = query.q.casefold()
        if not any(needle in str(model.get(name) or "").casefold() for name in ("id", "name", "description")):
            return False
    if query.free is not None and model["is_free"] is not query.free:
        return False
    if query.discounted is not None and _discounted(model) is not query.discounted:
        return False
    # Every asked modality must be supported; several brands mean any of them.
    if not set(query.input_modality) <= set(model.get("input_modalities") or ()):
        return False
    if not set(query.output_modality) <= set(model.get("output_modalities") or ()):
        return False
    return not query.brand or model.get("brand") in query.brand


def search(models: Sequence[dict[str, Any]], query: SearchQuery) -> dict[str, Any]:
    """The ``ModelsPage`` object: one page of matches, the match count and the brands among all matches."""
    found = [m for m in models if _matches(m, query)]
    if query.sort is not None:
        key = query.sort
        found.sort(key=lambda m: (m[key], m["id"]), reverse=query.descending)
    elif query.descending:
        found.reverse()
    return {
        "items": found[query.offset : query.offset + query.limit],
        "total": len(found),
        "limit": query.limit,
        "offset": query.offset,
        "brands": sorted({str(m.get("brand")) for m in found if m.get("brand")}),
    }
