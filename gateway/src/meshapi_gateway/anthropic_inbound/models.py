"""Which catalog model answers the model name an Anthropic client sends.

Claude Code asks for names such as ``claude-sonnet-4-5`` or ``claude-3-5-haiku-20241022``;
the operator's ``[anthropic] model_map`` sends them to catalog models (docs/anthropic.md).
Order: an exact name in the map, ``auto`` (the auto router's), a catalog id as sent, the map's patterns in the order
written, an Anthropic catalog entry whose upstream name is the name sent; else the name
as sent (which then answers ``not_found_error``).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from meshapi_gateway.routing.auto import is_auto

if TYPE_CHECKING:
    from meshapi_gateway.catalog import Catalog


def is_pattern(name: str) -> bool:
    return any(c in name for c in "*?[")


def resolve_model(name: str, model_map: dict[str, str], catalog: "Catalog") -> str:
    mapped = model_map.get(name)
    if mapped is not None and not is_pattern(name):
        return mapped
    if is_auto(name):
        return name  # the auto router chooses; a catch-all pattern must not take it
    if catalog.get(name) is not None:
        return name
    for pattern, target in model_map.items():
        if is_pattern(pattern) and fnmatchcase(name, pattern):
            return target
    for entry in catalog:
        if entry.provider == "anthropic" and entry.upstream_model == name:
            return str(entry.id)
    return name
