"""How deep a request's JSON may nest, checked right after parsing.

orjson parses up to 1,024 levels but serializes only 254, and every route eventually
serializes what it received (to an upstream, a stored file, a log); a body between the
two used to pass validation and fail later as a 500. Real requests (messages, tool
schemas, template params) stay far below ``MAX_JSON_DEPTH``, so the cap costs nobody.
"""

from __future__ import annotations

from typing import Any

from meshapi_gateway.errors import GatewayError, validation_error

MAX_JSON_DEPTH = 64
_OPENERS = (b"[", b"{")


def too_deep(loc: list[Any]) -> GatewayError:
    """The 422 naming where the body nests past the cap."""
    return validation_error(
        [{"type": "too_deep", "loc": loc, "msg": f"JSON nests deeper than {MAX_JSON_DEPTH} levels"}],
        f"Request body nests deeper than {MAX_JSON_DEPTH} levels.",
    )


def deep_path(data: Any, limit: int = MAX_JSON_DEPTH) -> list[Any] | None:
    """The path to the first container more than ``limit`` levels down, or None if there is none.

    Iterative, so a 1,024-level body does not meet Python's recursion limit.
    """
    stack: list[tuple[Any, list[Any]]] = [(data, [])]
    while stack:
        value, path = stack.pop()
        if len(path) >= limit:
            return path[:limit]
        if isinstance(value, dict):
            stack.extend((v, [*path, k]) for k, v in value.items() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, [*path, i]) for i, v in enumerate(value) if isinstance(v, (dict, list)))
    return None


def check_depth(raw: bytes, data: Any, prefix: tuple[Any, ...] = ("body",)) -> None:
    """Refuse ``data`` (parsed from ``raw``) if it nests deeper than ``MAX_JSON_DEPTH``.

    Counting brackets in the raw bytes is a C-speed upper bound on the depth, so the
    common small body is never walked.
    """
    if raw.count(_OPENERS[0]) + raw.count(_OPENERS[1]) <= MAX_JSON_DEPTH:
        return
    path = deep_path(data)
    if path is not None:
        raise too_deep([*prefix, *path])
