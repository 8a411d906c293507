"""A Responses request, checked, and translated into a chat-completions body.

Models without a native Responses API are served through the chat pipeline, so the
request is rewritten as chat: ``instructions`` → a system message, input items →
messages (``function_call`` → assistant tool calls, ``function_call_output`` → tool
messages), function tools, ``tool_choice``, ``max_output_tokens``, ``reasoning.effort``
and ``text.format``/``response_format`` JSON schemas.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from meshapi_gateway.errors import GatewayError, field_error
from meshapi_gateway.request_schemas import EndUser, Temperature, TokenCount, TopP


class ResponsesRequest(BaseModel):
    """The documented limits (docs/wire.md, Responses API); unknown fields pass through to native upstreams."""

    model_config = ConfigDict(extra="allow")

    input: Union[str, list[Any]]
    model: Optional[str] = None
    models: Optional[list[str]] = None
    stream: Optional[StrictBool] = None
    instructions: Optional[str] = None
    max_output_tokens: TokenCount = None
    temperature: Temperature = None
    top_p: TopP = None
    seed: Optional[int] = None
    reasoning: Optional[dict[str, Any]] = None
    tools: Optional[list[dict[str, Any]]] = None
    tool_choice: Optional[Union[str, dict[str, Any]]] = None
    parallel_tool_calls: Optional[bool] = None
    max_tool_calls: Optional[int] = Field(None, ge=1, le=10)
    response_format: Optional[dict[str, Any]] = None
    text: Optional[dict[str, Any]] = None
    template: Optional[str] = None
    variables: Optional[dict[str, str]] = None
    user: EndUser = None
    reasoning_effort: Optional[Literal["high", "medium", "low", "minimal", "none"]] = None


# Request fields that only make sense with a native Responses upstream (they need stored responses).
_NATIVE_ONLY = ("previous_response_id", "background", "conversation", "prompt")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return ""


def _content_part(part: Any, position: int) -> dict[str, Any]:
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if not isinstance(part, dict):
        raise field_error("input", f"Content part {position} must be an object")
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text", "summary_text", "refusal"):
        return {"type": "text", "text": str(part.get("text") or part.get("refusal") or "")}
    if kind == "input_image":
        url = part.get("image_url")
        if isinstance(url, dict):
            url = url.get("url")
        if not isinstance(url, str) or not url:
            raise GatewayError(
                "model_capability_not_supported",
                "Images by file_id need a native Responses upstream; send image_url instead.",
            )
        image: dict[str, Any] = {"url": url}
        if part.get("detail") in ("auto", "low", "high"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_audio":
        return {"type": "input_audio", "input_audio": part.get("input_audio") or {}}
    raise GatewayError(
        "model_capability_not_supported", f"Input content of type '{kind}' needs a model with a native Responses API."
    )


def _message_content(content: Any, role: str) -> Any:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise field_error("input", "Message content must be a string or a list of parts")
    parts = [_content_part(p, i) for i, p in enumerate(content)]
    if role != "user" or all(p["type"] == "text" for p in parts):
        return "".join(p.get("text", "") for p in parts)  # assistant/system content is plain text in chat
    return parts


def input_to_messages(value: Any) -> list[dict[str, Any]]:
    """Responses ``input`` (a string or a list of items) → chat messages."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    messages: list[dict[str, Any]] = []
    for position, item in enumerate(value):
        if isinstance(item, str):
            messages.append({"role": "user", "content": item})
            continue
        if not isinstance(item, dict):
            raise field_error("input", f"Input item {position} must be an object or a string")
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise field_error("input", f"Input item {position} has an unknown role {role!r}")
            chat_role = "system" if role == "developer" else role
            messages.append({"role": chat_role, "content": _message_content(item.get("content"), chat_role)})
        elif kind == "function_call":
            call = {
                "id": str(item.get("call_id") or item.get("id") or f"call_{position}"),
                "type": "function",
                "function": {
                    "name": str(item.get("name") or ""),
                    "arguments": item.get("arguments")
                    if isinstance(item.get("arguments"), str)
                    else orjson.dumps(item.get("arguments") or {}).decode(),
                },
            }
            last = messages[-1] if messages else None
            # Parallel calls of one turn become one assistant message with several tool calls.
            if last is not None and last["role"] == "assistant" and last.get("tool_calls") is not None:
                last["tool_calls"].append(call)
            elif last is not None and last["role"] == "assistant" and "tool_calls" not in last:
                last["tool_calls"] = [call]
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": str(item.get("call_id") or ""),
                    "content": output if isinstance(output, str) else _text_of(output),
                }
            )
        elif kind == "reasoning":
            continue  # a previous turn's reasoning: chat upstreams take no such input
        elif kind == "item_reference":
            raise field_error("input", "item_reference needs stored responses, which this model does not have")
        else:
            raise GatewayError(
                "model_capability_not_supported",
                f"Input items of type '{kind}' need a model with a native Responses API.",
            )
    return messages


def _tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for tool in tools:
        if tool.get("type") != "function":
            raise GatewayError(
                "model_capability_not_supported",
                f"The built-in tool '{tool.get('type')}' needs a model with a native Responses API.",
            )
        fn: dict[str, Any] = {"name": tool.get("name")}
        for key in ("description", "parameters", "strict"):
            if tool.get(key) is not None:
                fn[key] = tool[key]
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = choice.get("name") or (choice.get("function") or {}).get("name")
        return {"type": "function", "function": {"name": name}}
    if isinstance(choice, dict) and choice.get("type") in ("auto", "none", "required"):
        return choice["type"]
    return choice


def chat_response_format(body: dict[str, Any]) -> dict[str, Any] | None:
    """``text.format`` (Responses) or ``response_format`` (either shape) → chat's ``response_format``."""
    fmt = None
    text = body.get("text")
    if isinstance(text, dict) and isinstance(text.get("format"), dict):
        fmt = text["format"]
    elif isinstance(body.get("response_format"), dict):
        fmt = body["response_format"]
    if fmt is None or fmt.get("type") in (None, "text"):
        return None
    if fmt.get("type") == "json_schema":
        if isinstance(fmt.get("json_schema"), dict):
            return {"type": "json_schema", "json_schema": fmt["json_schema"]}
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if fmt.get(k) is not None}
        schema.setdefault("name", "response")
        return {"type": "json_schema", "json_schema": schema}
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    raise field_error("text", f"Unknown output format type {fmt.get('type')!r}")


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """The chat-completions body that serves this Responses request."""
    for name in _NATIVE_ONLY:
        if body.get(name):
            raise field_error(
                name,
                "Needs stored responses, which this model (served through chat) does not have; "
                "send the whole conversation in 'input'",
            )
    messages = input_to_messages(body["input"])
    if not messages:
        raise field_error("input", "Input must not be empty", type_="too_short")
    if body.get("instructions"):
        messages.insert(0, {"role": "system", "content": body["instructions"]})
    chat: dict[str, Any] = {"messages": messages, "stream": bool(body.get("stream"))}
    for name in (
        "model",
        "models",
        "template",
        "variables",
        "session_id",
        "temperature",
        "top_p",
        "seed",
        "user",
        "timeout",
        "cache",
    ):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    reasoning = body.get("reasoning")
    effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
    if effort or body.get("reasoning_effort"):
        chat["reasoning_effort"] = effort or body["reasoning_effort"]
    if body.get("tools"):
        chat["tools"] = _tools(body["tools"])
        if body.get("parallel_tool_calls") is not None:  # chat upstreams refuse it without tools
            chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    fmt = chat_response_format(body)
    if fmt is not None:
        chat["response_format"] = fmt
    return chat
