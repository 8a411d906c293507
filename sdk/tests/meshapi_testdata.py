"""Response bodies shared by several SDK test modules."""

from __future__ import annotations

from typing import Any, Dict

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "openai/gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    "brand_new_field": {"x": 1},
}


MSGS = [{"role": "user", "content": "hi"}]


def chunk(content: str = "", *, finish: Any = None, **delta: Any) -> Dict[str, Any]:
    d: Dict[str, Any] = dict(delta)
    if content:
        d["content"] = content
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": d, "finish_reason": finish}],
    }


USAGE_CHUNK = {
    "id": "c1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "m",
    "choices": [],
    "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5},
    "cost": "0.000150",
}
