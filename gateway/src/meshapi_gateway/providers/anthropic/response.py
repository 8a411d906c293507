"""Anthropic Message → OpenAI ``chat.completion``: blocks, stop reasons and usage.

Anthropic counts cache reads and cache writes apart from ``input_tokens``; OpenAI's
``prompt_tokens`` includes them, with the reads repeated as ``cached_tokens``.
"""

from __future__ import annotations

import time
from typing import Any

from meshapi_gateway.providers.translation import dump_arguments

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: Any) -> str | None:
    if stop_reason is None:
        return None
    return FINISH_REASONS.get(str(stop_reason), "stop")


def usage(raw: Any) -> dict[str, Any]:
    raw = raw if isinstance(raw, dict) else {}
    cache_read = int(raw.get("cache_read_input_tokens") or 0)
    cache_write = int(raw.get("cache_creation_input_tokens") or 0)
    prompt = int(raw.get("input_tokens") or 0) + cache_read + cache_write
    completion = int(raw.get("output_tokens") or 0)
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read},
    }
    if cache_write:
        out["prompt_tokens_details"]["cache_creation_tokens"] = cache_write
    return out


def completion_id(message_id: Any) -> str:
    return f"chatcmpl-{message_id}" if message_id else ""


def to_completion(message: dict[str, Any]) -> dict[str, Any]:
    texts: list[str] = []
    reasoning: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "tool_use":
            arguments = dump_arguments(block.get("input"))
            tool_calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": arguments},
                }
            )
        elif kind == "thinking":
            reasoning.append(str(block.get("thinking") or ""))
            thinking_blocks.append(block)
        elif kind == "redacted_thinking":
            thinking_blocks.append(block)
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else (None if tool_calls else "")}
    if tool_calls:
        msg["tool_calls"] = tool_calls
    if reasoning:
        msg["reasoning_content"] = "".join(reasoning)
    if thinking_blocks:
        msg["thinking_blocks"] = thinking_blocks
    out: dict[str, Any] = {
        "object": "chat.completion",
        "created": int(time.time()),
        "model": message.get("model") or "",
        "choices": [
            {"index": 0, "message": msg, "finish_reason": finish_reason(message.get("stop_reason")), "logprobs": None}
        ],
        "usage": usage(message.get("usage")),
    }
    cid = completion_id(message.get("id"))
    if cid:
        out["id"] = cid
    return out
