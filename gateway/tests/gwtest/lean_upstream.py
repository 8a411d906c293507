"""A minimal OpenAI-compatible chat upstream as a bare ASGI app, for load tests.

The scripted fake upstream (``openai_upstream``) is built for behaviour; this one is
built to cost almost nothing per request, so a 10,000-request run measures the gateway
and not the fake. Usage grows with the request body, so costs differ between requests.
A request with ``max_tokens`` is answered as a model that wrote up to that limit (its
completion tokens are exactly ``max_tokens``, ``finish_reason`` ``length``), so a call's cost
can equal the worst case a budget reserves for it.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Receive, Scope, Send


def _limit(body: bytes) -> int | None:
    if b'max_tokens"' not in body and b'max_completion_tokens"' not in body:  # the common case costs no parse
        return None
    parsed = json.loads(body)
    asked = parsed.get("max_completion_tokens", parsed.get("max_tokens"))
    return asked if type(asked) is int and asked > 0 else None


def _usage(body: bytes, limit: int | None) -> dict[str, int]:
    prompt = max(1, len(body) // 16)
    completion = limit if limit is not None else 1 + len(body) % 7
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion(usage: dict[str, int], finish: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-lean",
            "object": "chat.completion",
            "created": 1,
            "model": "lean",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": finish}],
            "usage": usage,
        }
    ).encode()


def _stream(usage: dict[str, int], finish: str) -> bytes:
    base = {"id": "chatcmpl-lean", "object": "chat.completion.chunk", "created": 1, "model": "lean"}
    frames: list[dict[str, Any]] = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
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
    limit = _limit(body)
    usage, finish = _usage(body, limit), "stop" if limit is None else "length"
    streaming = b'"stream":true' in body.replace(b" ", b"")
    payload = _stream(usage, finish) if streaming else _completion(usage, finish)
    ctype = b"text/event-stream" if streaming else b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", ctype), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
