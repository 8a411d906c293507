"""Whether a request is cached, and how: its ``cache`` field, ``Cache-Control``, the key's and the model's defaults.

Precedence, strongest first: the ``Cache-Control`` header (``no-cache`` skips the lookup,
``no-store`` keeps the answer out, both turn the cache off for the request), the request's
``cache`` field (``true``/``false``, or an object with ``ttl``, ``semantic``, ``threshold``,
``tool_calls``), the key's defaults, the model's defaults (settings ``cache.keys`` and
``cache.models``). Nothing said anywhere: not cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meshapi_gateway.errors import field_error

if TYPE_CHECKING:
    from meshapi_gateway.config import CacheDefaults, CacheSettings

FIELDS = ("ttl", "semantic", "threshold", "tool_calls")


@dataclass(slots=True)
class CachePolicy:
    lookup: bool  # look for an earlier answer
    store: bool  # keep this answer
    ttl: int  # seconds
    semantic: bool
    threshold: float
    tool_calls: bool  # answers with tool calls are kept too


def _check_field(value: Any) -> dict[str, Any] | bool | None:
    """The ``cache`` field checked: a bool, an object of known fields, or absent (422 naming it otherwise)."""
    if value is None or isinstance(value, bool):
        return value
    if not isinstance(value, dict):
        raise field_error(
            "cache",
            "cache must be a boolean or an object with ttl, semantic, threshold, tool_calls",
            type_="type_error",
            value=value,
        )
    for name in value:
        if name not in FIELDS:
            raise field_error("cache", f"unknown cache option {name!r} (known: {', '.join(FIELDS)})", value=value)
    ttl = value.get("ttl")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1):
        raise field_error("cache", "cache.ttl must be a whole number of seconds, at least 1", value=value)
    threshold = value.get("threshold")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1
    ):
        raise field_error("cache", "cache.threshold must be a number in (0, 1]", value=value)
    for flag in ("semantic", "tool_calls"):
        if value.get(flag) is not None and not isinstance(value.get(flag), bool):
            raise field_error("cache", f"cache.{flag} must be a boolean", value=value)
    return value


def _directives(header: str | None) -> tuple[bool, bool]:
    """(no-cache, no-store) from a ``Cache-Control`` header."""
    if not header:
        return False, False
    parts = {p.strip().lower().split("=", 1)[0] for p in header.split(",")}
    return "no-cache" in parts, "no-store" in parts


def policy(
    settings: CacheSettings, key_id: str | None, model: Any, field: Any, header: str | None
) -> CachePolicy | None:
    """The request's policy, or None when the cache is not in effect for it."""
    asked = _check_field(field)
    if not settings.enabled or asked is False:
        return None
    defaults: CacheDefaults | None = None
    if key_id is not None and settings.keys:
        defaults = settings.keys.get(key_id)
    if defaults is None and settings.models and isinstance(model, str):
        defaults = settings.models.get(model)
    if asked is None and (defaults is None or not defaults.enabled):
        return None
    options: dict[str, Any] = asked if isinstance(asked, dict) else {}
    no_cache, no_store = _directives(header)
    if no_cache and no_store:
        return None

    def pick(name: str, fallback: Any) -> Any:
        value = options.get(name)
        if value is None and defaults is not None:
            value = getattr(defaults, name)
        return fallback if value is None else value

    ttl = min(int(pick("ttl", settings.ttl_seconds)), settings.max_ttl_seconds)
    return CachePolicy(
        lookup=not no_cache,
        store=not no_store,
        ttl=ttl,
        semantic=bool(pick("semantic", False)),
        threshold=float(pick("threshold", settings.semantic_threshold)),
        tool_calls=bool(pick("tool_calls", False)),
    )
