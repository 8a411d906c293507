"""One embeddings answer shape whoever computed it: ordered items, requested encoding, int usage."""

from __future__ import annotations

import base64
import struct
from typing import Any

from meshapi_gateway.errors import GatewayError


def to_base64(vector: list[float]) -> str:
    """Little-endian float32, as OpenAI encodes ``encoding_format=base64``."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def from_base64(text: str) -> list[float]:
    raw = base64.b64decode(text)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def estimate_tokens(value: Any) -> int:
    """Tokens for an upstream that reported no usage: token arrays exactly, text at 4 characters a token."""
    items = value if isinstance(value, list) and not (value and isinstance(value[0], int)) else [value]
    total = 0
    for item in items:
        total += len(item) if isinstance(item, list) else max(1, len(str(item)) // 4)
    return total


def normalize(data: Any, public_model: str, encoding: str, sent_input: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise GatewayError(
            "upstream_error",
            "The embeddings upstream sent an answer without data.",
            provider_error=data if isinstance(data, dict) else None,
        )
    items: list[dict[str, Any]] = []
    for position, item in enumerate(data["data"]):
        vector = item.get("embedding") if isinstance(item, dict) else None
        if encoding == "base64" and isinstance(vector, list):
            vector = to_base64(vector)
        elif encoding != "base64" and isinstance(vector, str):
            vector = from_base64(vector)
        index: int = item["index"] if isinstance(item, dict) and isinstance(item.get("index"), int) else position
        items.append({"object": "embedding", "index": index, "embedding": vector})
    items.sort(key=lambda it: it["index"])
    usage: dict[str, Any] = data["usage"] if isinstance(data.get("usage"), dict) else {}
    prompt = int(usage.get("prompt_tokens") or usage.get("total_tokens") or 0) or estimate_tokens(sent_input)
    return {
        "object": "list",
        "data": items,
        "model": public_model,
        "usage": {"prompt_tokens": prompt, "total_tokens": int(usage.get("total_tokens") or prompt)},
    }
