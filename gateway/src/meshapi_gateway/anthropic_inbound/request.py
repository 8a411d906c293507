"""An Anthropic Messages request → the gateway's chat request (OpenAI chat-completions shape).

What changes shape on the way: ``system`` becomes the first message; a user turn's
``tool_result`` blocks become ``tool`` messages ahead of the rest of that turn; an assistant
turn's ``tool_use`` blocks become ``tool_calls``; images become ``image_url`` parts (base64 as
a data URL); PDF documents become ``file`` parts and text documents text; ``tools`` with
``input_schema`` become function tools; ``tool_choice`` ``any`` is ``required``; ``stop_sequences``
is ``stop``; ``metadata.user_id`` is ``user``. Prompt-caching marks and earlier thinking blocks
only mean something to Anthropic models, which never take this path (they are passed through
natively), so they are left out. Malformed requests are refused here, naming the field, as
Anthropic's own 400s do.
"""

from __future__ import annotations

from typing import Any

import orjson

from meshapi_gateway.errors import GatewayError

# Anthropic-defined tools (bash, text editor, web search, …) carry a versioned type and no schema:
# only Anthropic runs them.
CUSTOM_TOOL_TYPES = (None, "custom")
THINKING_EFFORT = ((16384, "high"), (4096, "medium"), (0, "low"))
# ``output_config.effort`` → OpenAI's reasoning effort (which stops at high).
EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


def invalid(where: str, message: str) -> GatewayError:
    return GatewayError(
        "invalid_request",
        f"{where}: {message}" if where else message,
        details=[{"type": "value_error", "loc": ["body", *where.split(".")] if where else ["body"], "msg": message}],
    )


def _int(body: dict[str, Any], name: str, *, minimum: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise invalid(name, f"Input should be an integer greater than or equal to {minimum}")
    return value


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise invalid(name, f"Input should be a number between {low:g} and {high:g}")
    return float(value)


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    """Content as a list of typed blocks (a string is one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise invalid(where, "Input should be a valid string or a list of content blocks")
    for i, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise invalid(f"{where}.{i}", "each content block must be an object with a type")
    return content


def _text(block: dict[str, Any], where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise invalid(f"{where}.text", "Field required")
    return text


def _image_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise invalid(f"{where}.source", "Field required")
    kind = source.get("type")
    if kind == "base64" and isinstance(source.get("data"), str) and isinstance(source.get("media_type"), str):
        url = f"data:{source['media_type']};base64,{source['data']}"
    elif kind == "url" and isinstance(source.get("url"), str):
        url = source["url"]
    else:
        raise invalid(f"{where}.source", "an image source is {type: base64, media_type, data} or {type: url, url}")
    return {"type": "image_url", "image_url": {"url": url}}


def _document_parts(block: dict[str, Any], where: str) -> list[dict[str, Any]]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise invalid(f"{where}.source", "Field required")
    kind = source.get("type")
    title = block.get("title")
    parts: list[dict[str, Any]] = [{"type": "text", "text": str(title)}] if isinstance(title, str) and title else []
    if kind == "base64" and isinstance(source.get("data"), str):
        media = source.get("media_type") or "application/pdf"
        parts.append(
            {
                "type": "file",
                "file": {
                    "file_data": f"data:{media};base64,{source['data']}",
                    "filename": str(title or "document.pdf"),
                },
            }
        )
    elif kind == "text" and isinstance(source.get("data"), str):
        parts.append({"type": "text", "text": source["data"]})
    elif kind == "content":
        for i, inner in enumerate(_blocks(source.get("content"), f"{where}.source.content")):
            parts.extend(_user_parts(inner, f"{where}.source.content.{i}"))
    elif kind == "url":
        raise GatewayError(
            "model_capability_not_supported",
            f"{where}.source: documents by URL are only read by Anthropic models; send the PDF as base64",
        )
    else:
        raise invalid(f"{where}.source", "a document source is base64, text, content or url")
    return parts


def _user_parts(block: dict[str, Any], where: str) -> list[dict[str, Any]]:
    kind = block["type"]
    if kind == "text":
        text = _text(block, where)
        return [{"type": "text", "text": text}] if text else []
    if kind == "image":
        return [_image_part(block, where)]
    if kind == "document":
        return _document_parts(block, where)
    if kind == "search_result":  # a search result the client found: its title, source and text blocks as text
        inner = _blocks(block.get("content"), f"{where}.content")
        texts = [_text(b, f"{where}.content.{i}") for i, b in enumerate(inner) if b["type"] == "text"]
        head = [str(block[k]) for k in ("title", "source") if isinstance(block.get(k), str) and block[k]]
        text = "\n".join([*head, *texts]).strip()
        return [{"type": "text", "text": text}] if text else []
    if kind in ("thinking", "redacted_thinking"):
        return []
    raise invalid(f"{where}.type", f"unsupported content block type {kind!r} in a user turn")


def _tool_result(block: dict[str, Any], where: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``tool`` message, and image parts (a tool message carries only text) for a following user turn."""
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise invalid(f"{where}.tool_use_id", "Field required")
    content = block.get("content")
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    if content is not None:
        for i, inner in enumerate(_blocks(content, f"{where}.content")):
            for part in _user_parts(inner, f"{where}.content.{i}"):
                if part["type"] == "text":
                    texts.append(part["text"])
                else:
                    images.append(part)
    text = "\n".join(texts)
    if block.get("is_error") is True:
        text = "Error: " + text if text else "Error"
    return {"role": "tool", "tool_call_id": call_id, "content": text}, images


def _user_messages(content: Any, where: str) -> list[dict[str, Any]]:
    tool_messages: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for i, block in enumerate(_blocks(content, where)):
        if block["type"] == "tool_result":
            message, images = _tool_result(block, f"{where}.{i}")
            tool_messages.append(message)
            parts.extend(images)
        else:
            parts.extend(_user_parts(block, f"{where}.{i}"))
    out = tool_messages
    if parts:
        only_text = all(p["type"] == "text" for p in parts)
        content_out: Any = "\n".join(p["text"] for p in parts) if only_text and len(parts) == 1 else parts
        out.append({"role": "user", "content": content_out})
    return out


def _assistant_message(content: Any, where: str) -> dict[str, Any] | None:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for i, block in enumerate(_blocks(content, where)):
        kind = block["type"]
        at = f"{where}.{i}"
        if kind == "text":
            texts.append(_text(block, at))
        elif kind == "tool_use":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise invalid(at, "tool_use blocks need an id and a name")
            arguments = block.get("input")
            if not isinstance(arguments, dict):
                raise invalid(f"{at}.input", "Input should be an object")
            calls.append(
                {
                    "id": block["id"],
                    "type": "function",
                    "function": {"name": block["name"], "arguments": orjson.dumps(arguments).decode()},
                }
            )
        elif kind in ("thinking", "redacted_thinking", "server_tool_use", "container_upload") or kind.endswith(
            "_tool_result"
        ):
            continue  # only an Anthropic model can use these again (its own thinking, its server tools' turns)
        else:
            raise invalid(f"{at}.type", f"unsupported content block type {kind!r} in an assistant turn")
    text = "".join(texts)
    if not text and not calls:
        return None
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _system(system: Any) -> dict[str, Any] | None:
    if system is None:
        return None
    texts = [_text(b, f"system.{i}") for i, b in enumerate(_blocks(system, "system")) if b["type"] == "text"]
    text = "\n\n".join(t for t in texts if t)
    return {"role": "system", "content": text} if text else None


def chat_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages", "Field required (a non-empty list)")
    out: list[dict[str, Any]] = []
    system = _system(body.get("system"))
    if system is not None:
        out.append(system)
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(message, dict):
            raise invalid(where, "Input should be an object")
        role = message.get("role")
        if role == "user":
            out.extend(_user_messages(message.get("content"), f"{where}.content"))
        elif role == "assistant":
            assistant = _assistant_message(message.get("content"), f"{where}.content")
            if assistant is not None:
                out.append(assistant)
        else:
            raise invalid(f"{where}.role", "Input should be 'user' or 'assistant'")
    return out


def chat_tools(tools: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """(function tools, names of Anthropic-defined tools left out)."""
    if tools is None:
        return [], []
    if not isinstance(tools, list):
        raise invalid("tools", "Input should be a list")
    out: list[dict[str, Any]] = []
    skipped: list[str] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not tool["name"]:
            raise invalid(f"tools.{i}.name", "Field required")
        if tool.get("type") not in CUSTOM_TOOL_TYPES:
            skipped.append(tool["name"])
            continue
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise invalid(f"tools.{i}.input_schema", "Field required")
        function: dict[str, Any] = {"name": tool["name"], "parameters": schema}
        if isinstance(tool.get("description"), str) and tool["description"]:
            function["description"] = tool["description"]
        out.append({"type": "function", "function": function})
    return out, skipped


def chat_tool_choice(choice: Any) -> tuple[Any, bool]:
    """(OpenAI tool_choice or None, parallel tool use disabled)."""
    if choice is None:
        return None, False
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind not in ("auto", "any", "tool", "none"):
        raise invalid("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")
    assert isinstance(choice, dict)
    no_parallel = choice.get("disable_parallel_tool_use") is True
    if kind == "tool":
        if not isinstance(choice.get("name"), str) or not choice["name"]:
            raise invalid("tool_choice.name", "Field required")
        return {"type": "function", "function": {"name": choice["name"]}}, no_parallel
    return {"auto": "auto", "any": "required", "none": "none"}[kind], no_parallel


def check_common(body: dict[str, Any]) -> str:
    """The checks count_tokens shares with messages; returns the model name sent."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model", "Field required")
    return model


def reasoning_effort(thinking: Any, output_config: Any) -> str | None:
    """Extended thinking as an OpenAI reasoning effort: ``output_config.effort`` when given, else from the budget."""
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "adaptive"):
        return None
    effort = output_config.get("effort") if isinstance(output_config, dict) else None
    if isinstance(effort, str) and effort in EFFORTS:
        return EFFORTS[effort]
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int):
        return "medium"
    return next(effort for floor, effort in THINKING_EFFORT if budget >= floor)


def response_format(output_config: Any) -> dict[str, Any] | None:
    """``output_config.format`` (a JSON schema the answer must follow) as OpenAI's ``response_format``."""
    fmt = output_config.get("format") if isinstance(output_config, dict) else None
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
        raise invalid("output_config.format", "Input should be {type: json_schema, schema: {...}}")
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt["schema"], "strict": True}}


def to_chat(body: dict[str, Any], model_id: str, *, can_reason: bool = False) -> tuple[dict[str, Any], list[str]]:
    """(chat request for ``model_id``, notes on what was left out)."""
    check_common(body)
    max_tokens = _int(body, "max_tokens", minimum=1)
    if max_tokens is None:
        raise invalid("max_tokens", "Field required")
    notes: list[str] = []
    chat: dict[str, Any] = {"model": model_id, "messages": chat_messages(body), "max_tokens": max_tokens}
    temperature = _number(body, "temperature", 0, 1)
    if temperature is not None:
        chat["temperature"] = temperature
    top_p = _number(body, "top_p", 0, 1)
    if top_p is not None:
        chat["top_p"] = top_p
    top_k = _int(body, "top_k", minimum=0)
    if top_k is not None:
        notes.append("top_k ignored (only Anthropic models take it)")
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise invalid("stop_sequences", "Input should be a list of strings")
        if stops:
            chat["stop"] = stops
    tools, skipped = chat_tools(body.get("tools"))
    if skipped:
        notes.append("Anthropic-defined tools left out: " + ", ".join(skipped))
    choice, no_parallel = chat_tool_choice(body.get("tool_choice"))
    if tools:
        chat["tools"] = tools
        if choice is not None:
            chat["tool_choice"] = choice
        if no_parallel:
            chat["parallel_tool_calls"] = False
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise invalid("metadata", "Input should be an object")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str) and metadata["user_id"]:
        chat["user"] = metadata["user_id"][:256]
    output_config = body.get("output_config")
    if output_config is not None and not isinstance(output_config, dict):
        raise invalid("output_config", "Input should be an object")
    fmt = response_format(output_config)
    if fmt is not None:
        chat["response_format"] = fmt
    effort = reasoning_effort(body.get("thinking"), output_config)
    if effort is not None:
        if can_reason:
            chat["reasoning_effort"] = effort
        else:
            notes.append("thinking ignored (the model does not reason)")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise invalid("stream", "Input should be a valid boolean")
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat, notes
