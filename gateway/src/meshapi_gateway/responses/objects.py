"""The OpenAI Responses object, built from what a chat completion produced.

``output`` holds an optional ``reasoning`` item, one ``message`` item with ``output_text``
parts (``annotations: []``) and one ``function_call`` item per tool call, so the official
client's ``response.output_text`` and tool handling work unchanged.
"""

from __future__ import annotations

import time
from typing import Any

from meshapi_gateway.ids import ulid


def new_id(prefix: str) -> str:
    return f"{prefix}_{ulid().lower()}"


def usage_object(usage: dict[str, Any] | None) -> dict[str, Any]:
    """Chat usage → Responses usage (``input_tokens``/``output_tokens``/``total_tokens`` and details)."""
    usage = usage or {}
    prompt = int(usage.get("prompt_tokens") or usage.get("input_tokens") or 0)
    completion = int(usage.get("completion_tokens") or usage.get("output_tokens") or 0)
    prompt_details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or usage.get("output_tokens_details") or {}
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": int(prompt_details.get("cached_tokens") or 0)},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": int(completion_details.get("reasoning_tokens") or 0)},
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
    }


def _echo_text_format(body: dict[str, Any]) -> dict[str, Any]:
    text = body.get("text")
    if isinstance(text, dict) and isinstance(text.get("format"), dict):
        return {"format": text["format"]}
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        inner: dict[str, Any] = fmt["json_schema"] if isinstance(fmt.get("json_schema"), dict) else fmt
        return {"format": {"type": "json_schema", **{k: v for k, v in inner.items() if k != "type"}}}
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return {"format": {"type": "json_object"}}
    return {"format": {"type": "text"}}


def skeleton(response_id: str, created_at: int, model: str, body: dict[str, Any]) -> dict[str, Any]:
    """The response object before any output: what ``response.created`` carries."""
    reasoning: dict[str, Any] = body["reasoning"] if isinstance(body.get("reasoning"), dict) else {}
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": "in_progress",
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": False,
        "temperature": body.get("temperature"),
        "text": _echo_text_format(body),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p"),
        "truncation": "disabled",
        "usage": None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def function_call_item(item_id: str, call: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    fn = call.get("function") or {}
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call.get("id") or item_id,
        "name": fn.get("name") or "",
        "arguments": fn.get("arguments") or "{}",
    }


def reasoning_item(item_id: str, text: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "reasoning",
        "status": "completed",
        "summary": [{"type": "summary_text", "text": text}],
    }


def finish_status(finish_reason: str | None) -> tuple[str, dict[str, Any] | None]:
    """Chat ``finish_reason`` → Responses ``status`` and ``incomplete_details``."""
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def from_completion(completion: dict[str, Any], body: dict[str, Any], model: str) -> dict[str, Any]:
    """A whole (non-streamed) chat completion → the Responses object."""
    response = skeleton(new_id("resp"), int(completion.get("created") or time.time()), model, body)
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        output.append(reasoning_item(new_id("rs"), reasoning))
    content = message.get("content")
    text = (
        content
        if isinstance(content, str)
        else "".join(str(p.get("text") or "") for p in content or [] if isinstance(p, dict))
    )
    calls = message.get("tool_calls") or []
    if text or not calls:
        output.append(message_item(new_id("msg"), text))
    output.extend(function_call_item(new_id("fc"), call) for call in calls)
    status, incomplete = finish_status(choice.get("finish_reason"))
    response.update(
        status=status, incomplete_details=incomplete, output=output, usage=usage_object(completion.get("usage"))
    )
    if completion.get("cost") is not None:
        response["cost"] = completion["cost"]
    return response
