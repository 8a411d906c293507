"""Gemini ``GenerateContentResponse`` → OpenAI ``chat.completion``.

Each candidate becomes a choice: text parts are the content, ``thought`` parts the
reasoning, ``functionCall`` parts tool calls with JSON-string arguments. Gemini's
``promptTokenCount`` already includes cached tokens; thinking tokens are billed as output,
so they count toward ``completion_tokens`` as OpenAI's reasoning tokens do.
"""

from __future__ import annotations

import time
from typing import Any

from meshapi_gateway.providers.gemini.tool_ids import new_call_id
from meshapi_gateway.providers.translation import dump_arguments

CONTENT_FILTER_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "LANGUAGE",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)


def finish_reason(reason: Any, has_tool_calls: bool) -> str | None:
    if not reason:
        return None
    if reason == "MAX_TOKENS":
        return "length"
    if reason in CONTENT_FILTER_REASONS:
        return "content_filter"
    return "tool_calls" if has_tool_calls else "stop"


def usage(meta: Any) -> dict[str, Any] | None:
    if not isinstance(meta, dict):
        return None
    prompt = int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0)
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    completion = int(meta.get("candidatesTokenCount") or 0) + thoughts
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(meta.get("totalTokenCount") or prompt + completion),
        "prompt_tokens_details": {"cached_tokens": int(meta.get("cachedContentTokenCount") or 0)},
    }
    if thoughts:
        out["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    return out


def tool_call(part: dict[str, Any]) -> dict[str, Any]:
    fc = part["functionCall"]
    return {
        "id": new_call_id(fc.get("id"), part.get("thoughtSignature")),
        "type": "function",
        "function": {"name": fc.get("name") or "", "arguments": dump_arguments(fc.get("args"))},
    }


def split_parts(parts: list[dict[str, Any]]) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """(text, reasoning, tool calls) of a candidate's parts, in order."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts:
        if "functionCall" in part:
            calls.append(tool_call(part))
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else texts).append(part["text"])
    return texts, thoughts, calls


def completion_id(data: dict[str, Any]) -> str:
    return f"chatcmpl-{data['responseId']}" if data.get("responseId") else ""


def to_completion(data: dict[str, Any]) -> dict[str, Any]:
    choices = []
    for i, candidate in enumerate(data.get("candidates") or []):
        texts, thoughts, calls = split_parts((candidate.get("content") or {}).get("parts") or [])
        message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else (None if calls else "")}
        if calls:
            message["tool_calls"] = calls
        if thoughts:
            message["reasoning_content"] = "".join(thoughts)
        choices.append(
            {
                "index": candidate.get("index", i),
                "message": message,
                "finish_reason": finish_reason(candidate.get("finishReason") or "STOP", bool(calls)),
                "logprobs": None,
            }
        )
    if not choices:
        # The prompt itself was blocked (promptFeedback.blockReason): no candidate at all.
        choices.append(
            {
                "index": 0,
                "message": {"role": "assistant", "content": ""},
                "finish_reason": "content_filter",
                "logprobs": None,
            }
        )
    out: dict[str, Any] = {
        "object": "chat.completion",
        "created": int(time.time()),
        "model": data.get("modelVersion") or "",
        "choices": choices,
    }
    counted = usage(data.get("usageMetadata"))
    if counted is not None:
        out["usage"] = counted
    cid = completion_id(data)
    if cid:
        out["id"] = cid
    return out
