"""Fixed upstream bodies, so every target proxies byte-identical work."""

from __future__ import annotations

import json
from typing import Any

COMPLETION_ID = "chatcmpl-bench0000000000000000000000"
CREATED = 1_700_000_000
MARKER = "bench-ok"  # every checked response must contain this text


def completion_body() -> str:
    """A typical small non-streaming chat completion."""
    return json.dumps(
        {
            "id": COMPLETION_ID,
            "object": "chat.completion",
            "created": CREATED,
            "model": "mock",
            "system_fingerprint": "fp_bench",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": f"Hello! This is a fixed answer from the benchmark upstream ({MARKER}).",
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 16, "total_tokens": 28},
        },
        separators=(",", ":"),
    )


def _chunk(
    delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None, choices: bool = True
) -> str:
    obj: dict[str, Any] = {
        "id": COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": "mock",
        "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else [],
    }
    if usage is not None:
        obj["usage"] = usage
    return "data: " + json.dumps(obj, separators=(",", ":")) + "\n\n"


def sse_body(chunks: int) -> str:
    """An OpenAI-style stream of exactly `chunks` data events plus `[DONE]`.

    Layout: a role chunk, content chunks, a finish chunk and a usage chunk
    (choices empty), as upstreams send when asked for `include_usage`.
    """
    if chunks < 4:
        raise ValueError("need at least 4 chunks")
    words = [f"{MARKER} "] + [f"word{i} " for i in range(chunks - 3)]
    parts = [_chunk({"role": "assistant", "content": ""})]
    parts += [_chunk({"content": w}) for w in words[: chunks - 3]]
    parts.append(_chunk({}, finish="stop"))
    usage = {"prompt_tokens": 12, "completion_tokens": chunks - 3, "total_tokens": 12 + chunks - 3}
    parts.append(_chunk({}, usage=usage, choices=False))
    parts.append("data: [DONE]\n\n")
    return "".join(parts)


def request_body(model: str, stream: bool, cache: bool = False) -> str:
    """The client request every target receives (the same bytes for all; ``cache``: asks meshapi's response cache)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say hello in one short sentence."},
        ],
        "max_tokens": 32,
    }
    if stream:
        body["stream"] = True
    if cache:
        body["cache"] = True
    return json.dumps(body, separators=(",", ":"))
