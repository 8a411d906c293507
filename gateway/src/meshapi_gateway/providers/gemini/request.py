"""OpenAI chat-completions body → Gemini ``generateContent`` request body.

Gemini keeps the system prompt in ``systemInstruction``, calls the assistant ``model``,
returns tool results as ``functionResponse`` parts of a user turn (named, not keyed by
call id), and takes sampling settings in ``generationConfig``. Fields with no Gemini
meaning are listed so the adapter can report them in a response header.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from meshapi_gateway.providers.gemini.tool_ids import split_call_id
from meshapi_gateway.providers.translation import (
    TranslatedRequest,
    append_turn,
    audio_mime,
    chat_messages,
    checked_messages,
    content_parts,
    content_text,
    function_tools,
    guess_mime,
    invalid_request,
    named_messages_note,
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
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "n",
        "response_format",
        "tools",
        "tool_choice",
        "reasoning_effort",
        "user",
    }
)

# reasoning_effort → thinking budget in tokens; 0 switches thinking off where the model allows it.
THINKING_BUDGETS = {"none": 0, "minimal": 0, "low": 1024, "medium": 8192, "high": 24576}


def _media_part(url: str, default_mime: str) -> dict[str, Any]:
    data_url = parse_data_url(url)
    if data_url is not None:
        return {"inlineData": {"mimeType": data_url[0], "data": data_url[1]}}
    return {"fileData": {"mimeType": guess_mime(url, default_mime), "fileUri": url}}


def _parts(content: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for part in content_parts(content):
        kind = part.get("type")
        if kind == "text":
            text = part_text(part)
            if text:
                parts.append({"text": text})
        elif kind == "refusal":  # an earlier assistant refusal, replayed as its text
            if part.get("refusal"):
                parts.append({"text": str(part["refusal"])})
        elif kind == "image_url":
            parts.append(_media_part(part_image_url(part), "image/jpeg"))
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            if not audio.get("data"):
                raise invalid_request("input_audio parts need input_audio.data")
            parts.append({"inlineData": {"mimeType": audio_mime(audio.get("format")), "data": audio["data"]}})
        elif kind == "file":
            file = part.get("file") or {}
            if not file.get("file_data"):
                raise invalid_request("file parts need file.file_data as a data URL")
            parts.append(_media_part(str(file["file_data"]), "application/pdf"))
        else:
            raise invalid_request(f"unsupported content part type {kind!r}")
    return parts


def _function_response(message: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    call_id = str(message.get("tool_call_id") or "")
    name = names.get(call_id) or message.get("name")
    if not name:
        raise invalid_request(f"tool message {call_id!r} answers no tool call of an earlier assistant message")
    text = content_text(message.get("content"))
    # Gemini wants an object: a JSON object result goes as is, anything else under "output".
    try:
        value = orjson.loads(text) if text else None
    except orjson.JSONDecodeError:
        value = text
    result = value if isinstance(value, dict) else {"output": value}
    return {"functionResponse": {"name": name, "response": result}}


def _model_parts(message: dict[str, Any], names: dict[str, str]) -> list[dict[str, Any]]:
    parts = _parts(message.get("content"))
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        if not fn.get("name"):
            raise invalid_request("assistant tool_calls need a function name")
        _, signature = split_call_id(str(call.get("id") or ""))
        names[str(call.get("id") or "")] = fn["name"]
        part: dict[str, Any] = {"functionCall": {"name": fn["name"], "args": parse_arguments(fn.get("arguments"))}}
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def translate_messages(messages: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system parts, contents); consecutive turns of one role are merged."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # OpenAI call id → function name, for the tool messages that follow
    for role, message in checked_messages(messages):
        if role in ("system", "developer"):
            system.extend(p for p in _parts(message.get("content")) if "text" in p)
            continue
        if role == "user":
            parts, turn_role = _parts(message.get("content")), "user"
        elif role == "assistant":
            parts, turn_role = _model_parts(message, names), "model"
        else:  # tool
            parts, turn_role = [_function_response(message, names)], "user"
        if parts:
            append_turn(contents, turn_role, parts, "parts")
    return system, contents


def _tools(tools: Any) -> list[dict[str, Any]]:
    declarations = []
    for fn in function_tools(tools):
        decl: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            decl["description"] = fn["description"]
        if fn.get("parameters"):
            # JSON Schema as written by the client; ``parameters`` would take only Gemini's OpenAPI subset.
            decl["parametersJsonSchema"] = fn["parameters"]
        declarations.append(decl)
    return [{"functionDeclarations": declarations}] if declarations else []


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        config: dict[str, Any] = {"mode": "AUTO"}
    elif choice == "none":
        config = {"mode": "NONE"}
    elif choice == "required":
        config = {"mode": "ANY"}
    elif isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        config = {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}
    else:
        raise invalid_request("tool_choice must be auto, none, required or {type: function, function: {name}}")
    return {"functionCallingConfig": config}


def _response_format(fmt: Any, config: dict[str, Any]) -> None:
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return
    if fmt["type"] == "json_object":
        config["responseMimeType"] = "application/json"
    elif fmt["type"] == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        config["responseMimeType"] = "application/json"
        if isinstance(schema, dict):
            config["responseJsonSchema"] = schema
    else:
        raise invalid_request("response_format.type must be text, json_object or json_schema")


def generation_config(body: dict[str, Any], req: TranslatedRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens:
        config["maxOutputTokens"] = int(max_tokens)
    for ours, theirs in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    stops = stop_list(body.get("stop"))
    if stops:
        config["stopSequences"] = stops
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        config["candidateCount"] = n
    _response_format(body.get("response_format"), config)
    effort = body.get("reasoning_effort")
    if effort:
        if effort not in THINKING_BUDGETS:
            raise invalid_request("reasoning_effort must be one of none, minimal, low, medium, high")
        budget = THINKING_BUDGETS[effort]
        config["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": budget > 0}
    return config


def build_request(body: dict[str, Any], target: "Target") -> TranslatedRequest:
    messages = chat_messages(body)
    system, contents = translate_messages(messages)
    if not contents:
        raise invalid_request("gemini needs at least one user or assistant message with content")
    out: dict[str, Any] = {"contents": contents}
    req = TranslatedRequest(out, notes=named_messages_note(messages, "gemini"))
    if system:
        out["systemInstruction"] = {"parts": system}
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
        tool_config = _tool_config(body.get("tool_choice"))
        if tool_config is not None:
            out["toolConfig"] = tool_config
    config = generation_config(body, req)
    if config:
        out["generationConfig"] = config
    req.dropped = unsupported_fields(body, HANDLED)
    return req
