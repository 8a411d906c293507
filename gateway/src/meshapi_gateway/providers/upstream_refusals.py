"""Telling "the upstream refused this request" from "the upstream is unwell", and cleaning what it said.

Some servers (llama-cpp-python's among them) answer a request they cannot parse with HTTP
500 and a dump of their validation errors, file paths included. Taken at face value that is
an upstream failure: retried, counted against the deployment's breaker, and one client's bad
request takes the model away from everyone. Here such an answer is recognised as the
request's fault, and every upstream message loses what is internal to the upstream (file
paths, tracebacks, validation dumps) while keeping which field was wrong and why.
"""

from __future__ import annotations

import ast
import re
from typing import Any

# "10 validation errors:" (FastAPI / pydantic-core) or "1 validation error for ChatRequest" (pydantic).
_DUMP_HEADER = re.compile(r"\d+ validation errors?\b", re.IGNORECASE)
# One pydantic error printed as a Python dict, one per line.
_DUMP_ITEM = re.compile(r"\{'type': .*\}")
_TRACE_LINE = re.compile(r'^\s*(File "|Traceback \(most recent call last\))')
_PATH = re.compile(r"(?<![\w.:/])(?:[A-Za-z]:)?(?:[/\\][\w.@+-]+){2,}[/\\]?")
# Union members pydantic names in a location (e.g. ChatCompletionRequestUserMessage): not a field.
_CLASS_NAME = re.compile(r"^[A-Z][A-Za-z0-9]+$")
_MAX_MESSAGE = 500


def _field_path(loc: Any) -> list[Any]:
    if not isinstance(loc, (list, tuple)):
        return []
    parts = [p for p in loc if not (isinstance(p, str) and _CLASS_NAME.match(p))]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return parts


def dotted(parts: list[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _dump_items(text: str) -> list[dict[str, Any]]:
    items = []
    for raw in _DUMP_ITEM.findall(text):
        try:
            item = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            continue
        if isinstance(item, dict) and "loc" in item and "msg" in item:
            items.append(item)
    return items


def validation_details(text: str) -> list[dict[str, Any]] | None:
    """The fields a validation dump complains about, in our detail shape; None when ``text`` is no dump.

    Of a union's alternatives pydantic reports every mismatch; a missing or wrong field is
    what the client needs, not that the role is not one of the other alternatives.
    """
    if not _DUMP_HEADER.search(text):
        return None
    items = _dump_items(text)
    if not items:
        return []

    # Alternatives of a union (named by a class in the location) that failed on their literal tag
    # (e.g. the role) are the ones the client did not mean.
    def alternative(item: dict[str, Any]) -> tuple[str, ...]:
        loc = item.get("loc") or ()
        return tuple(p for p in loc if isinstance(p, str) and _CLASS_NAME.match(p))

    mismatched = {alternative(i) for i in items if i.get("type") == "literal_error"}
    useful = [i for i in items if alternative(i) not in mismatched or not alternative(i)] or items
    details: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for item in useful:
        path = _field_path(item.get("loc"))
        key = (dotted(path), str(item.get("msg")))
        if key in seen:
            continue
        seen.add(key)
        details.append(
            {"type": str(item.get("type") or "value_error"), "loc": ["body", *path], "msg": str(item.get("msg"))}
        )
    return details


def looks_like_refusal(body: Any, message: str) -> bool:
    """An error answer that is about the request's content, whatever HTTP status carried it."""
    if validation_details(message) is not None:
        return True
    if isinstance(body, dict) and isinstance(body.get("detail"), list):
        return any(isinstance(d, dict) and "loc" in d for d in body["detail"])
    return False


def clean_text(text: str) -> str:
    """``text`` without tracebacks, file paths or validation dumps, and not too long."""
    details = validation_details(text)
    if details:
        text = "; ".join(f"{dotted(d['loc'][1:]) or 'body'}: {d['msg']}" for d in details)
    kept = [line for line in text.splitlines() if not _TRACE_LINE.match(line)]
    text = _PATH.sub("<path>", " ".join(s.strip() for s in kept if s.strip()))
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def clean_body(body: Any, depth: int = 0) -> Any:
    """An upstream error body with every string cleaned (it goes to the client as ``provider_error``)."""
    if depth > 6:
        return None
    if isinstance(body, str):
        return clean_text(body)
    if isinstance(body, dict):
        return {str(k): clean_body(v, depth + 1) for k, v in body.items() if k not in ("input", "ctx", "url")}
    if isinstance(body, list):
        return [clean_body(v, depth + 1) for v in body[:20]]
    return body
