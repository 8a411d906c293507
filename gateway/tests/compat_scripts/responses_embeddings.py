"""The README's Responses API (create and stream) and embeddings examples, as written."""

from __future__ import annotations

from typing import Any

from compat_common import client, report, step
from meshapi import EmbeddingsParams, ResponsesParams


def _params() -> ResponsesParams:
    return ResponsesParams(
        model="openai/o4-mini",
        input="Explain the halting problem in two sentences.",
        reasoning={"effort": "medium"},
        max_output_tokens=512,
    )


def responses_create() -> dict[str, Any]:
    reply = client().responses.create(_params())
    text = "".join(
        part.get("text", "")
        for item in reply.output or []
        if item.get("type") == "message"
        for part in item.get("content") or []
    )
    return {
        "output": reply.output,
        "text": text,
        "status": reply.status,
        "object": reply.object,
        "usage": reply.usage.model_dump() if reply.usage else None,
    }


def responses_stream() -> dict[str, Any]:
    types, text, completed = [], "", None
    for event in client().responses.stream(_params()):
        types.append(event.type)
        if event.type == "response.output_text.delta":
            text += (event.model_extra or {}).get("delta", "")
        if event.type == "response.completed":
            completed = event.response
    return {"types": types, "text": text, "completed_status": (completed or {}).get("status")}


def embeddings() -> dict[str, Any]:
    result = client().embeddings.create(
        EmbeddingsParams(
            model="openai/text-embedding-3-small",
            input=["hello world", "goodbye world"],
        )
    )
    return {
        "dimensions": len(result.data[0].embedding),
        "items": len(result.data),
        "object": result.object,
        "indexes": [d.index for d in result.data],
        "usage": result.usage.model_dump() if result.usage else None,
    }


step("responses_create", responses_create)
step("responses_stream", responses_stream)
step("embeddings", embeddings)
report()
