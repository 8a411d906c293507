"""A local server that speaks Anthropic's Messages API, scripted by model name.

It checks each request against the documented rules (headers, ``max_tokens``, alternating
user/assistant turns, typed blocks, tool results answering the previous turn's tool uses,
no unknown fields) and answers a documented ``invalid_request_error`` when one is broken,
so tests see what the real API would say. Answers are built from the Messages API
documentation's examples. Models:

``claude-echo`` "echo: <last user text>"; ``claude-doc`` the documentation's basic
message; ``claude-tools`` the documentation's tool-use example (streamed with the input
split over many ``input_json_delta`` events); ``claude-parallel`` two tool uses;
``claude-stop`` ends on the first stop sequence; ``claude-length`` ends at ``max_tokens``
words; ``claude-thinking`` the extended-thinking example; ``claude-cached`` usage with cache
reads and writes; ``claude-error-<status>`` the documented error body for that status;
``claude-error-event`` streams some text and then an ``overloaded_error`` event;
``claude-error-first`` opens a stream whose first event is an error; ``claude-cut`` drops
the connection mid-stream; ``claude-eof`` ends the stream before ``message_stop``.
``POST /v1/messages/count_tokens`` answers ``count_words`` of the request (a stand-in for the
real tokenizer that a test can recompute).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gwtest.openai_upstream import Recorder

TOP_LEVEL_FIELDS = {
    "model",
    "messages",
    "max_tokens",
    "system",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "metadata",
    "thinking",
    "service_tier",
    "container",
    "mcp_servers",
    "context_management",
}
BLOCK_TYPES = {"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"}

# --- documented examples ------------------------------------------------------------------

DOC_MESSAGE = {
    "content": [{"text": "Hi! My name is Claude.", "type": "text"}],
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "model": "claude-sonnet-4-5-20250929",
    "role": "assistant",
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "type": "message",
    "usage": {"input_tokens": 2095, "output_tokens": 503},
}

DOC_BASIC_STREAM = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "claude-sonnet-4-5-20250929",
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 25, "output_tokens": 1},
            },
        },
    ),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ("ping", {"type": "ping"}),
    *[
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}})
        for t in ("Hello", "!")
    ],
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 15},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]

DOC_TOOL_TEXT = "Okay, let's check the weather for San Francisco, CA:"
DOC_TOOL_INPUT = {"location": "San Francisco, CA", "unit": "fahrenheit"}
DOC_TOOL_ID = "toolu_01T1x1fJ34qAmk2tNTrN7Up6"
_TOOL_TEXT_PIECES = [
    "Okay",
    ",",
    " let",
    "'s",
    " check",
    " the",
    " weather",
    " for",
    " San",
    " Francisco",
    ",",
    " CA",
    ":",
]
_TOOL_JSON_PIECES = ["", '{"location":', ' "San', " Francisc", "o,", ' CA"', ", ", '"unit": "fah', 'renheit"}']
DOC_TOOL_STREAM = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_014p7gG3wDgGV9EUtLvnow3U",
                "type": "message",
                "role": "assistant",
                "model": "claude-opus-4-6",
                "stop_sequence": None,
                "usage": {"input_tokens": 472, "output_tokens": 2},
                "content": [],
                "stop_reason": None,
            },
        },
    ),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ("ping", {"type": "ping"}),
    *[
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}})
        for t in _TOOL_TEXT_PIECES
    ],
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": DOC_TOOL_ID, "name": "get_weather", "input": {}},
        },
    ),
    *[
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": p}},
        )
        for p in _TOOL_JSON_PIECES
    ],
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 89},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]

DOC_THINKING = "I need to find the GCD of 1071 and 462 using the Euclidean algorithm.\n\n1071 = 2 \u00d7 462 + 147"
DOC_THINKING_SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds..."
DOC_THINKING_ANSWER = "The greatest common divisor of 1071 and 462 is **21**."

DOC_ERRORS = {
    400: ("invalid_request_error", "There was an issue with the format or content of your request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Your account has hit a rate limit."),
    500: ("api_error", "An unexpected error has occurred internal to Anthropic's systems."),
    529: ("overloaded_error", "Overloaded"),
}


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}


def _error(status: int, message: str | None = None) -> Response:
    kind, text = DOC_ERRORS.get(status, ("api_error", "error"))
    headers = {"retry-after": "7", "anthropic-ratelimit-requests-remaining": "0"} if status == 429 else {}
    return JSONResponse(error_body(kind, message or text), status_code=status, headers=headers)


# --- request checks -----------------------------------------------------------------------


def check_request(headers: dict[str, str], body: Any) -> tuple[int, str] | None:
    """(status, message) for the first documented rule the request breaks, else None."""
    if not headers.get("x-api-key"):
        return 401, "x-api-key header is required"
    if not headers.get("anthropic-version"):
        return 400, "anthropic-version: header is required"
    if not isinstance(body, dict):
        return 400, "body must be a JSON object"
    extra = set(body) - TOP_LEVEL_FIELDS
    if extra:
        return 400, f"{sorted(extra)[0]}: Extra inputs are not permitted"
    if not isinstance(body.get("model"), str):
        return 400, "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return 400, "max_tokens: Field required"
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        return 400, "temperature: Input should be less than or equal to 1"
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        return 400, "system: Input should be a valid string or list"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return 400, "messages: Field required"
    previous_tool_uses: set[str] = set()
    for i, m in enumerate(messages):
        role = m.get("role")
        if role not in ("user", "assistant"):
            return 400, f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if i > 0 and messages[i - 1].get("role") == role:
            return 400, 'messages: roles must alternate between "user" and "assistant"'
        content = m.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list) or not blocks:
            return 400, f"messages.{i}: all messages must have non-empty content"
        seen_other = False
        tool_uses: set[str] = set()
        for b in blocks:
            kind = b.get("type")
            if kind not in BLOCK_TYPES:
                return 400, f"messages.{i}.content: unknown block type {kind!r}"
            if kind == "text" and not b.get("text"):
                return 400, f"messages.{i}: text content blocks must be non-empty"
            if kind == "image":
                src = b.get("source") or {}
                if src.get("type") not in ("base64", "url") or not (src.get("data") or src.get("url")):
                    return 400, f"messages.{i}: image source must be base64 or url"
            if kind == "tool_use":
                if role != "assistant" or not isinstance(b.get("input"), dict) or not b.get("id"):
                    return 400, f"messages.{i}: tool_use blocks need an id and an object input"
                tool_uses.add(b["id"])
            if kind == "tool_result":
                if role != "user" or seen_other:
                    return 400, f"messages.{i}: tool_result blocks must come first in a user message"
                if b.get("tool_use_id") not in previous_tool_uses:
                    return 400, f"messages.{i}: unexpected tool_use_id found in tool_result blocks"
            else:
                seen_other = True
        previous_tool_uses = tool_uses
    for tool in body.get("tools") or []:
        if not tool.get("name") or not isinstance(tool.get("input_schema"), dict):
            return 400, "tools: each tool needs a name and an input_schema"
    choice = body.get("tool_choice")
    if choice is not None and choice.get("type") not in ("auto", "any", "tool", "none"):
        return 400, "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"
    return None


# --- answers ------------------------------------------------------------------------------


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return c
            return " ".join(b.get("text", "") for b in c if b.get("type") == "text")
    return ""


def _message(
    model: str, content: list[dict[str, Any]], stop_reason: str, usage: dict[str, Any], stop_sequence: str | None = None
) -> dict[str, Any]:
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage,
    }


def answer(body: dict[str, Any]) -> dict[str, Any]:
    model = body["model"]
    tools = body.get("tools") or []
    if model == "claude-doc":
        return DOC_MESSAGE
    if model == "claude-tools":
        name = tools[0]["name"] if tools else "get_weather"
        return _message(
            model,
            [
                {"type": "text", "text": DOC_TOOL_TEXT},
                {"type": "tool_use", "id": DOC_TOOL_ID, "name": name, "input": DOC_TOOL_INPUT},
            ],
            "tool_use",
            {"input_tokens": 472, "output_tokens": 89},
        )
    if model == "claude-parallel":
        names = [t["name"] for t in tools] or ["get_weather"]
        return _message(
            model,
            [
                {"type": "tool_use", "id": "toolu_01A", "name": names[0], "input": {"location": "San Francisco, CA"}},
                {"type": "tool_use", "id": "toolu_01B", "name": names[-1], "input": {"location": "New York, NY"}},
            ],
            "tool_use",
            {"input_tokens": 500, "output_tokens": 120},
        )
    if model == "claude-thinking":
        return _message(
            model,
            [
                {"type": "thinking", "thinking": DOC_THINKING, "signature": DOC_THINKING_SIGNATURE},
                {"type": "text", "text": DOC_THINKING_ANSWER},
            ],
            "end_turn",
            {"input_tokens": 60, "output_tokens": 240},
        )
    if model == "claude-cached":
        return _message(
            model,
            [{"type": "text", "text": "From the cached book: it was the best of times."}],
            "end_turn",
            {
                "input_tokens": 21,
                "cache_creation_input_tokens": 188,
                "cache_read_input_tokens": 1800,
                "output_tokens": 12,
            },
        )
    text = "echo: " + _last_user_text(body["messages"])
    if model == "claude-stop" and body.get("stop_sequences"):
        stop = body["stop_sequences"][0]
        return _message(
            model,
            [{"type": "text", "text": "one two"}],
            "stop_sequence",
            {"input_tokens": 10, "output_tokens": 2},
            stop_sequence=stop,
        )
    if model == "claude-length":
        words = text.split(" ")[: body["max_tokens"]]
        return _message(
            model,
            [{"type": "text", "text": " ".join(words)}],
            "max_tokens",
            {"input_tokens": 10, "output_tokens": len(words)},
        )
    return _message(
        model, [{"type": "text", "text": text}], "end_turn", {"input_tokens": 10, "output_tokens": len(text.split())}
    )


def events_for(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The documented event sequence that streams ``message``: text by word, tool input in small fragments."""
    start = {k: v for k, v in message.items() if k not in ("content", "stop_reason", "stop_sequence")}
    usage = dict(message["usage"])
    start["usage"] = {**usage, "output_tokens": 1}
    out: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {"type": "message_start", "message": {**start, "content": [], "stop_reason": None, "stop_sequence": None}},
        )
    ]
    for i, block in enumerate(message["content"]):
        kind = block["type"]
        if kind == "text":
            first: dict[str, Any] = {"type": "text", "text": ""}
            words = block["text"].split(" ")
            deltas = [{"type": "text_delta", "text": w if j == 0 else " " + w} for j, w in enumerate(words)]
        elif kind == "thinking":
            first = {"type": "thinking", "thinking": ""}
            text = block["thinking"]
            deltas = [{"type": "thinking_delta", "thinking": text[j : j + 20]} for j in range(0, len(text), 20)]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            first = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            raw = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": ""}]
            deltas += [{"type": "input_json_delta", "partial_json": raw[j : j + 6]} for j in range(0, len(raw), 6)]
        out.append(("content_block_start", {"type": "content_block_start", "index": i, "content_block": first}))
        if i == 0:
            out.append(("ping", {"type": "ping"}))
        out.extend(("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d}) for d in deltas)
        out.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    out.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": message.get("stop_sequence")},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
    )
    out.append(("message_stop", {"type": "message_stop"}))
    return out


def _frame(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def _stream(model: str, events: list[tuple[str, dict[str, Any]]]) -> AsyncIterator[bytes]:
    if model == "claude-error-first":
        yield _frame("error", error_body("overloaded_error", "Overloaded"))
        return
    for n, (event, data) in enumerate(events):
        if model == "claude-cut" and n == 5:
            raise ConnectionResetError("scripted cut")
        if model == "claude-eof" and event == "message_stop":
            return
        if model == "claude-error-event" and event == "content_block_stop":
            yield _frame("error", error_body("overloaded_error", "Overloaded"))
            return
        yield _frame(event, data)
        await asyncio.sleep(0)


def make_app(recorder: Recorder) -> Starlette:
    async def messages(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = dict(request.headers)
        recorder.requests.append({"path": request.url.path, "headers": headers, "body": body})
        problem = check_request(headers, body)
        if problem is not None:
            return _error(problem[0], problem[1])
        model = body["model"]
        if model.startswith("claude-error-") and model[len("claude-error-") :].isdigit():
            return _error(int(model[len("claude-error-") :]))
        message = answer(body)
        if not body.get("stream"):
            return JSONResponse(message)
        if model == "claude-doc":
            events = DOC_BASIC_STREAM
        elif model == "claude-tools" and (body.get("tools") or [{}])[0].get("name", "get_weather") == "get_weather":
            events = DOC_TOOL_STREAM
        else:
            events = events_for(message)
        return StreamingResponse(_stream(model, events), media_type="text/event-stream")

    async def count_tokens(request: Request) -> Response:
        body = json.loads(await request.body())
        recorder.requests.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
        if not request.headers.get("x-api-key"):
            return _error(401)
        if "max_tokens" in body or not isinstance(body.get("messages"), list):
            return _error(400, "count_tokens takes model, messages, system, tools, tool_choice and thinking")
        return JSONResponse({"input_tokens": count_words(body)})

    return Starlette(
        routes=[
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
        ]
    )


def count_words(body: dict[str, Any]) -> int:
    """Words of the system prompt and every text block, plus 10 per tool."""
    texts: list[str] = []
    system = body.get("system")
    texts.extend([system] if isinstance(system, str) else [b.get("text", "") for b in system or []])
    for m in body.get("messages") or []:
        c = m.get("content")
        texts.extend([c] if isinstance(c, str) else [b.get("text", "") for b in c if b.get("type") == "text"])
    return sum(len(t.split()) for t in texts) + 10 * len(body.get("tools") or [])
