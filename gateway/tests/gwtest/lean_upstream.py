"""A minimal OpenAI-compatible chat upstream as a bare ASGI app, for load tests.

The scripted fake upstream (``openai_upstream``) is built for behaviour; this one is
built to cost almost nothing per request, so a 10,000-request run measures the gateway
and not the fake. Usage grows with the request body, so costs differ between requests.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Receive, Scope, Send


def _usage(body: bytes) -> dict[str, int]:
    prompt = max(1, len(body) // 16)
    completion = 1 + len(body) % 7
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion(usage: dict[str, int]) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-lean",
            "object": "chat.completion",
            "created": 1,
            "model": "lean",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": usage,
        }
    ).encode()


def _stream(usage: dict[str, int]) -> bytes:
    base = {"id": "chatcmpl-lean", "object": "chat.completion.chunk", "created": 1, "model": "lean"}
    frames: list[dict[str, Any]] = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": usage},
    ]
    return b"".join(b"data: " + json.dumps(f).encode() + b"\n\n" for f in frames) + b"data: [DONE]\n\n"


async def lean_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    usage = _usage(body)
    streaming = b'"stream":true' in body.replace(b" ", b"")
    payload = _stream(usage) if streaming else _completion(usage)
    ctype = b"text/event-stream" if streaming else b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", ctype), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
