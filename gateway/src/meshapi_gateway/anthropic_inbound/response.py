"""The gateway's chat answer → an Anthropic ``message`` object.

Usage splits the other way round from OpenAI's: ``input_tokens`` excludes the cache reads
and writes, which are counted apart (``cache_read_input_tokens``,
``cache_creation_input_tokens``). A plain OpenAI answer does not say which stop sequence
ended it, so its ``stop`` is ``end_turn``; a choice whose ``stop_reason`` names the sequence
(the local model, vLLM) is ``stop_sequence`` with that sequence (docs/anthropic.md).
"""

from __future__ import annotations

from typing import Any

import orjson

from meshapi_gateway.ids import ulid

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def message_id() -> str:
    return "msg_" + ulid()


def stop_reason(finish: Any, window_limited: bool = False) -> str:
    """``window_limited``: the context window, not the client's max_tokens, bounded the answer."""
    if finish == "length" and window_limited:
        return "model_context_window_exceeded"
    return STOP_REASONS.get(str(finish), "end_turn")


def stopped_by(choice: dict[str, Any]) -> str | None:
    """The stop sequence that ended a ``stop`` choice, when the answer names it."""
    sequence = choice.get("stop_reason")
    return sequence if choice.get("finish_reason") == "stop" and isinstance(sequence, str) else None


def usage_of(usage: Any) -> dict[str, int]:
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    read = int(details.get("cached_tokens") or 0)
    written = int(details.get("cache_creation_tokens") or 0)
    prompt = int(usage.get("prompt_tokens") or 0)
    return {
        "input_tokens": max(0, prompt - read - written),
        "output_tokens": int(usage.get("completion_tokens") or 0),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
    }


def tool_input(arguments: Any) -> dict[str, Any]:
    """A call's arguments as the object ``tool_use.input`` must be (arguments that are no object are wrapped)."""
    if isinstance(arguments, dict):
        return arguments
    try:
        value = orjson.loads(arguments) if isinstance(arguments, str) and arguments.strip() else {}
    except orjson.JSONDecodeError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"value": value}


def tool_use_block(call: dict[str, Any]) -> dict[str, Any]:
    fn = call.get("function") or {}
    return {
        "type": "tool_use",
        "id": str(call.get("id") or "toolu_" + ulid()),
        "name": str(fn.get("name") or ""),
        "input": tool_input(fn.get("arguments")),
    }


def to_message(completion: dict[str, Any], model: str, window_limited: bool = False) -> dict[str, Any]:
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    msg = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    reasoning = msg.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = msg.get("content")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    calls = [c for c in msg.get("tool_calls") or [] if isinstance(c, dict)]
    content.extend(tool_use_block(c) for c in calls)
    reason = "tool_use" if calls else stop_reason(choice.get("finish_reason"), window_limited)
    sequence = None if calls else stopped_by(choice)
    if sequence is not None:
        reason = "stop_sequence"
    return {
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage_of(completion.get("usage")),
    }
