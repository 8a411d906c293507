"""OpenAI chat-completions body → Anthropic Messages request body.

The Messages API keeps the system prompt out of the turns, wants strictly alternating
user/assistant turns made of typed blocks, returns tool results inside user turns, and
requires ``max_tokens``. Everything the client sent that has no Anthropic meaning is
listed so the adapter can say, in a response header, what was dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meshapi_gateway.providers.translation import (
    TranslatedRequest,
    append_turn,
    chat_messages,
    checked_messages,
    content_parts,
    content_text,
    function_tools,
    invalid_request,
    named_messages_note,
    not_capable,
    parse_arguments,
    parse_data_url,
    part_image_url,
    part_text,
    stop_list,
    unsupported_fields,
)

if TYPE_CHECKING:
    from meshapi_gateway.providers.base import Target

HANDLED = frozenset(
    {
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "user",
        "reasoning_effort",
        "thinking",
    }
)

# reasoning_effort → extended-thinking budget (Anthropic's minimum budget is 1024 tokens).
THINKING_BUDGETS = {"low": 1024, "medium": 4096, "high": 16384}
MIN_THINKING_BUDGET = 1024


def _image_block(part: dict[str, Any]) -> dict[str, Any]:
    url = part_image_url(part)
    data_url = parse_data_url(url)
    if data_url is not None:
        mime, data = data_url
        return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _file_block(part: dict[str, Any]) -> dict[str, Any]:
    file = part.get("file") or {}
    data_url = parse_data_url(str(file.get("file_data") or ""))
    if data_url is None or data_url[0] != "application/pdf":
        raise not_capable("anthropic", "file parts other than base64 PDF documents")
    return {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": data_url[1]}}


def _blocks(content: Any) -> list[dict[str, Any]]:
    """User (or tool result) content → Anthropic content blocks; empty text is left out (Anthropic rejects it)."""
    blocks: list[dict[str, Any]] = []
    for part in content_parts(content):
        kind = part.get("type")
        if kind == "text":
            text = part_text(part)
            if not text:
                continue
            block: dict[str, Any] = {"type": "text", "text": text}
        elif kind == "refusal":  # an earlier assistant refusal, replayed as its text
            if not part.get("refusal"):
                continue
            block = {"type": "text", "text": str(part["refusal"])}
        elif kind == "image_url":
            block = _image_block(part)
        elif kind == "input_audio":
            raise not_capable("anthropic", "audio input")
        elif kind == "file":
            block = _file_block(part)
        else:
            raise invalid_request(f"unsupported content part type {kind!r}")
        if isinstance(part.get("cache_control"), dict):  # prompt caching marks pass through as sent
            block["cache_control"] = part["cache_control"]
        blocks.append(block)
    return blocks


def _assistant_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    # Thinking blocks (with their signatures) must go back unchanged for tool use with extended thinking.
    for tb in message.get("thinking_blocks") or []:
        if isinstance(tb, dict) and tb.get("type") in ("thinking", "redacted_thinking"):
            blocks.append(tb)
    blocks.extend(_blocks(message.get("content")))
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        if not call.get("id") or not fn.get("name"):
            raise invalid_request("assistant tool_calls need an id and a function name")
        blocks.append(
            {"type": "tool_use", "id": call["id"], "name": fn["name"], "input": parse_arguments(fn.get("arguments"))}
        )
    return blocks


def _tool_result(message: dict[str, Any]) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not call_id:
        raise invalid_request("tool messages need a tool_call_id")
    content = message.get("content")
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    if isinstance(content, list):
        result["content"] = _blocks(content)
    else:
        result["content"] = content_text(content)
    return result


def translate_messages(messages: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, turns). Consecutive same-role turns are merged into one."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for role, message in checked_messages(messages):
        if role in ("system", "developer"):
            system.extend(_blocks(message.get("content")))
            continue
        if role == "user":
            blocks, turn_role = _blocks(message.get("content")), "user"
        elif role == "assistant":
            blocks, turn_role = _assistant_blocks(message), "assistant"
        else:  # tool
            blocks, turn_role = [_tool_result(message)], "user"
        if blocks:
            append_turn(turns, turn_role, blocks, "content")
    for turn in turns:
        # Tool results must open their user turn, ahead of any text that followed them.
        if turn["role"] == "user":
            turn["content"].sort(key=lambda b: 0 if b.get("type") == "tool_result" else 1)
    return system, turns


def _tools(tools: Any) -> list[dict[str, Any]]:
    out = []
    for fn in function_tools(tools):
        entry: dict[str, Any] = {
            "name": fn["name"],
            "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
        }
        if fn.get("description"):
            entry["description"] = fn["description"]
        out.append(entry)
    return out


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None and parallel is not False:
        return None
    if choice is None or choice == "auto":
        out: dict[str, Any] = {"type": "auto"}
    elif choice == "none":
        return {"type": "none"}
    elif choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        out = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise invalid_request("tool_choice must be auto, none, required or {type: function, function: {name}}")
    if parallel is False:
        out["disable_parallel_tool_use"] = True
    return out


def _apply_thinking(out: dict[str, Any], body: dict[str, Any], req: TranslatedRequest) -> None:
    thinking = body.get("thinking")
    if isinstance(thinking, dict):
        out["thinking"] = thinking
    else:
        effort = body.get("reasoning_effort")
        budget = THINKING_BUDGETS.get(str(effort)) if effort else None
        if effort and budget is None and effort not in ("none", "minimal"):
            raise invalid_request("reasoning_effort must be one of none, minimal, low, medium, high")
        if budget is not None:
            budget = min(budget, out["max_tokens"] - 1)
            if budget < MIN_THINKING_BUDGET:
                req.notes.append("reasoning_effort ignored: max_tokens leaves no room for a thinking budget")
            else:
                out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if out.get("thinking", {}).get("type") == "enabled" and "temperature" in out:
        # Extended thinking only runs at the default temperature.
        del out["temperature"]
        req.notes.append("temperature ignored with extended thinking")


def build_request(body: dict[str, Any], target: "Target", *, stream: bool) -> TranslatedRequest:
    messages = chat_messages(body)
    system, turns = translate_messages(messages)
    if not turns:
        raise invalid_request("anthropic needs at least one user or assistant message with content")
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or target.entry.max_output_tokens
    out: dict[str, Any] = {"model": target.upstream_model, "max_tokens": int(max_tokens), "messages": turns}
    req = TranslatedRequest(out, notes=named_messages_note(messages, "anthropic"))
    if system:
        out["system"] = system
    temperature = body.get("temperature")
    if temperature is not None:
        if temperature > 1:
            req.notes.append(f"temperature {temperature} clamped to 1 (anthropic's maximum)")
            temperature = 1
        out["temperature"] = temperature
    for name in ("top_p", "top_k"):
        if body.get(name) is not None:
            out[name] = body[name]
    stops = stop_list(body.get("stop"))
    if stops:
        out["stop_sequences"] = stops
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            out["tool_choice"] = choice
    if isinstance(body.get("user"), str) and body["user"]:
        out["metadata"] = {"user_id": body["user"]}
    _apply_thinking(out, body, req)
    if stream:
        out["stream"] = True
    req.dropped = unsupported_fields(body, HANDLED)
    return req
