"""A local server that speaks OpenAI's chat-completions wire format, scripted by model name.

Model names choose the behaviour, so one server serves every test:
``echo`` answers ``echo: <last user text>``; ``tools`` calls the first declared tool;
``fail-<status>`` answers that HTTP status with an OpenAI error body (``fail-429`` adds
``Retry-After: 2``); ``cut-<n>`` streams n chunks and then drops the connection;
A ``stop`` sequence found in the answer ends it there, and the choice names it in
``stop_reason`` as vLLM's answers do. ``nodone`` ends a stream without ``[DONE]``; ``slow-<seconds>`` answers late; ``pause-<seconds>``
streams its first word, then pauses that long before the rest. Embeddings
take ``fail-<status>`` and ``slow-<seconds>`` too. Every request is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gwtest.openai_responses_upstream import make_responses_handler

# Stream chunks are written compact, as OpenAI and orjson write them, so the gateway's relay of
# text chunks as bytes (providers/relayed_text.py) is what these tests go through.
COMPACT = (",", ":")


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def last(self) -> dict[str, Any]:
        return self.requests[-1]

    def clear(self) -> None:
        self.requests.clear()


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return c
            if isinstance(c, list):
                return " ".join(p.get("text", "") for p in c if p.get("type") == "text")
    return ""


def _cut_at_stop(text: str, stop: Any) -> tuple[str, str | None]:
    """The answer up to the first stop sequence in it, and that sequence (None when none is there)."""
    stops = [stop] if isinstance(stop, str) else [s for s in stop or [] if isinstance(s, str) and s]
    found = [(text.find(s), s) for s in stops if s in text]
    if not found:
        return text, None
    at, sequence = min(found)
    return text[:at], sequence


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _error(status: int) -> Response:
    body = {"error": {"message": f"scripted failure {status}", "type": "server_error", "code": f"e{status}"}}
    headers = {"retry-after": "2"} if status == 429 else {}
    return JSONResponse(body, status_code=status, headers=headers)


def make_app(recorder: Recorder) -> Starlette:
    async def chat(request: Request) -> Response:
        body = await request.json()
        recorder.requests.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
        model = str(body.get("model", ""))
        if model.startswith("fail-"):
            return _error(int(model.split("-", 1)[1]))
        if model.startswith("slow-"):
            await asyncio.sleep(float(model.split("-", 1)[1]))
        text, stopped = _cut_at_stop("echo: " + _last_user_text(body.get("messages") or []), body.get("stop"))
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or []) + 3
        tools = body.get("tools") or []
        tool_call = None
        if model == "tools" and tools:
            fn = tools[0]["function"]["name"]
            tool_call = {
                "id": "call_fake1",
                "type": "function",
                "function": {"name": fn, "arguments": json.dumps({"city": "Paris", "unit": "celsius"})},
            }
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": None if tool_call else text}
            if tool_call:
                message["tool_calls"] = [tool_call]
            return JSONResponse(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "finish_reason": "tool_calls" if tool_call else "stop",
                            **({"stop_reason": stopped} if stopped else {}),
                        }
                    ],
                    "usage": _usage(prompt_tokens, len(text.split())),
                }
            )
        return StreamingResponse(
            _stream(model, text, tool_call, prompt_tokens, body, stopped), media_type="text/event-stream"
        )

    async def _stream(
        model: str,
        text: str,
        tool_call: dict[str, Any] | None,
        prompt_tokens: int,
        body: dict[str, Any],
        stopped: str | None = None,
    ):  # type: ignore[no-untyped-def]
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

        def chunk(delta: dict[str, Any], finish: str | None = None, **more: Any) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, **more}
            return b"data: " + json.dumps({**base, "choices": [choice]}, separators=COMPACT).encode() + b"\n\n"

        yield chunk({"role": "assistant", "content": ""})
        cut = int(model.split("-", 1)[1]) if model.startswith("cut-") else None
        pause = float(model.split("-", 1)[1]) if model.startswith("pause-") else None
        if tool_call:
            args = tool_call["function"]["arguments"]
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": tool_call["id"],
                            "type": "function",
                            "function": {"name": tool_call["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
            for i in range(0, len(args), 5):
                yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[i : i + 5]}}]})
            yield chunk({}, "tool_calls")
        else:
            words = text.split(" ")
            for i, w in enumerate(words):
                if cut is not None and i >= cut:
                    raise ConnectionResetError("scripted cut")
                if pause is not None and i == 1:
                    await asyncio.sleep(pause)
                yield chunk({"content": w if i == 0 else " " + w})
                await asyncio.sleep(0)
            yield chunk({}, "stop", **({"stop_reason": stopped} if stopped else {}))
        if (body.get("stream_options") or {}).get("include_usage"):
            yield (
                b"data: "
                + json.dumps(
                    {**base, "choices": [], "usage": _usage(prompt_tokens, len(text.split()))}, separators=COMPACT
                ).encode()
                + b"\n\n"
            )
        if model != "nodone":
            yield b"data: [DONE]\n\n"

    async def embeddings(request: Request) -> Response:
        body = await request.json()
        recorder.requests.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
        model = str(body.get("model", ""))
        if model.startswith("fail-"):
            return _error(int(model.split("-", 1)[1]))
        if model.startswith("slow-"):
            await asyncio.sleep(float(model.split("-", 1)[1]))
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        dims = int(body.get("dimensions") or 8)
        data = [
            {"object": "embedding", "index": i, "embedding": [float((len(str(x)) + j) % 7) / 7 for j in range(dims)]}
            for i, x in enumerate(items)
        ]
        n = sum(len(str(x).split()) for x in items)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body.get("model"),
                "usage": {"prompt_tokens": n, "total_tokens": n},
            }
        )

    def record(request: Request, body: dict[str, Any]) -> None:
        recorder.requests.append({"path": request.url.path, "headers": dict(request.headers), "body": body})

    responses = make_responses_handler(record, _error)
    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/v1/responses", responses, methods=["POST"]),
        ]
    )
