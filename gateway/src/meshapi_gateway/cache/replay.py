"""A stored chat answer going out again: as a whole completion, or as the chunks of a stream.

What is stored is one chat completion (the answer as the client got it, less its cost); a
streamed answer is folded into that shape when it ends, so either kind of request can be
answered from either kind of earlier answer.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from meshapi_gateway.ids import ulid

if TYPE_CHECKING:
    from meshapi_gateway.chat.normalize import StreamNormalizer


def completion_of_stream(normalizer: StreamNormalizer) -> dict[str, Any]:
    """The completion a finished single-choice stream amounts to."""
    message: dict[str, Any] = {"role": "assistant", "content": "".join(normalizer.text_parts) or None}
    if normalizer.tool_calls:
        message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in normalizer.tool_calls]
    return {
        "id": normalizer.id,
        "object": "chat.completion",
        "created": normalizer.created,
        "model": normalizer.public_model,
        "choices": [{"index": 0, "message": message, "finish_reason": normalizer.finish_reason}],
        "usage": normalizer.usage,
    }


def fresh(stored: dict[str, Any]) -> dict[str, Any]:
    """The stored completion with an id and a time of its own (it is a new answer to a new request)."""
    out = dict(stored)
    out["id"] = "chatcmpl-" + ulid()
    out["created"] = int(time.time())
    return out


def chunks(completion: dict[str, Any]) -> list[dict[str, Any]]:
    """The chunks of a stream that says what ``completion`` says (usage goes in the final chunk, not here)."""
    base = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
    }
    out: list[dict[str, Any]] = []
    for i, choice in enumerate(completion.get("choices") or []):
        index = choice.get("index", i)
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": "assistant"}
        if message.get("content") is not None:
            delta["content"] = message["content"]
        out.append({**base, "choices": [{"index": index, "delta": delta, "finish_reason": None}]})
        for n, call in enumerate(message.get("tool_calls") or []):
            out.append(
                {
                    **base,
                    "choices": [
                        {"index": index, "delta": {"tool_calls": [{"index": n, **call}]}, "finish_reason": None}
                    ],
                }
            )
        out.append(
            {**base, "choices": [{"index": index, "delta": {}, "finish_reason": choice.get("finish_reason") or "stop"}]}
        )
    return out
