"""OpenAI embeddings request ↔ Gemini ``embedContent`` / ``batchEmbedContents``.

One input goes to ``embedContent``, several to ``batchEmbedContents`` (one upstream call
either way). Gemini reports no token usage for embeddings, so usage is estimated at four
characters a token, the same rule the chat pipeline uses when a stream ends without usage.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from meshapi_gateway.providers.base import UpstreamError
from meshapi_gateway.providers.translation import invalid_request

# OpenAI-style ``input_type`` hints (and Gemini's own names) → Gemini task types.
TASK_TYPES = {
    "query": "RETRIEVAL_QUERY",
    "search_query": "RETRIEVAL_QUERY",
    "document": "RETRIEVAL_DOCUMENT",
    "search_document": "RETRIEVAL_DOCUMENT",
    "passage": "RETRIEVAL_DOCUMENT",
    "classification": "CLASSIFICATION",
    "clustering": "CLUSTERING",
    "similarity": "SEMANTIC_SIMILARITY",
}
GEMINI_TASK_TYPES = frozenset(
    {
        "RETRIEVAL_QUERY",
        "RETRIEVAL_DOCUMENT",
        "SEMANTIC_SIMILARITY",
        "CLASSIFICATION",
        "CLUSTERING",
        "QUESTION_ANSWERING",
        "FACT_VERIFICATION",
        "CODE_RETRIEVAL_QUERY",
    }
)


def inputs(body: dict[str, Any]) -> list[str]:
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, list) and value:
        raise invalid_request("gemini embeddings take text input, not token ids")
    raise invalid_request("input must be a string or a non-empty list of strings")


def _task_type(body: dict[str, Any]) -> str | None:
    hint = body.get("input_type")
    if not isinstance(hint, str) or not hint:
        return None
    if hint.upper() in GEMINI_TASK_TYPES:
        return hint.upper()
    return TASK_TYPES.get(hint.lower())


def _one(text: str, body: dict[str, Any], model: str | None) -> dict[str, Any]:
    req: dict[str, Any] = {"content": {"parts": [{"text": text}]}}
    if model:
        req["model"] = f"models/{model}"
    task = _task_type(body)
    if task:
        req["taskType"] = task
    if body.get("dimensions"):
        req["outputDimensionality"] = int(body["dimensions"])
    return req


def build(body: dict[str, Any], upstream_model: str) -> tuple[str, dict[str, Any], int]:
    """(method, request body, input count)."""
    texts = inputs(body)
    if len(texts) == 1:
        return "embedContent", _one(texts[0], body, None), 1
    return "batchEmbedContents", {"requests": [_one(t, body, upstream_model) for t in texts]}, len(texts)


def vectors(data: Any, count: int) -> list[list[float]]:
    if isinstance(data, dict) and isinstance(data.get("embedding"), dict):
        found = [data["embedding"].get("values")]
    elif isinstance(data, dict) and isinstance(data.get("embeddings"), list):
        found = [e.get("values") if isinstance(e, dict) else None for e in data["embeddings"]]
    else:
        found = []
    if len(found) != count or not all(isinstance(v, list) for v in found):
        raise UpstreamError(
            "upstream_error",
            f"gemini returned {len(found)} embeddings for {count} inputs",
            retryable=True,
            provider_error=data,
        )
    return found


def encode(vector: list[float], encoding_format: Any) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


def to_openai(body: dict[str, Any], data: Any, count: int, public_model: str) -> dict[str, Any]:
    items = [
        {"object": "embedding", "index": i, "embedding": encode(v, body.get("encoding_format"))}
        for i, v in enumerate(vectors(data, count))
    ]
    tokens = sum(max(1, len(t) // 4) for t in inputs(body))
    return {
        "object": "list",
        "data": items,
        "model": public_model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
