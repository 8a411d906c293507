"""The fake upstream's ``/v1/responses``: OpenAI's Responses API, scripted by model name like chat.

``echo`` answers ``echo: <last user text>``; ``fail-<status>`` answers that status;
``cut`` streams two deltas and drops the connection. Streams send OpenAI's events with
``event:`` lines and end at EOF after ``response.completed`` (no ``[DONE]``, as OpenAI does).
"""

from __future__ import annotations

import json
import time
from typing import Any, AsyncIterator, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse


def _input_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    for item in reversed(value or []):
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            return " ".join(p.get("text", "") for p in content or [] if isinstance(p, dict))
    return ""


def _response(model: str, text: str, status: str, usage: dict[str, int] | None) -> dict[str, Any]:
    output = (
        []
        if status == "in_progress"
        else [
            {
                "id": "msg_up1",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ]
    )
    return {
        "id": "resp_up1",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": output,
        "usage": usage,
        "error": None,
        "incomplete_details": None,
    }


def make_responses_handler(
    record: Callable[[Request, dict[str, Any]], None], error: Callable[[int], Response]
) -> Callable[[Request], Any]:
    async def responses(request: Request) -> Response:
        body = await request.json()
        record(request, body)
        model = str(body.get("model", ""))
        if model.startswith("fail-"):
            return error(int(model.split("-", 1)[1]))
        text = "echo: " + _input_text(body.get("input"))
        usage = {
            "input_tokens": len(text.split()) + 2,
            "output_tokens": len(text.split()),
            "total_tokens": 2 * len(text.split()) + 2,
        }
        if not body.get("stream"):
            return JSONResponse(_response(model, text, "completed", usage))
        return StreamingResponse(_events(model, text, usage), media_type="text/event-stream")

    async def _events(model: str, text: str, usage: dict[str, int]) -> AsyncIterator[bytes]:
        seq = 0

        def event(kind: str, **fields: Any) -> bytes:
            nonlocal seq
            payload = {"type": kind, "sequence_number": seq, **fields}
            seq += 1
            return f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode()

        yield event("response.created", response=_response(model, "", "in_progress", None))
        yield event("response.in_progress", response=_response(model, "", "in_progress", None))
        item = {"id": "msg_up1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
        yield event("response.output_item.added", output_index=0, item=item)
        ids = {"item_id": "msg_up1", "output_index": 0, "content_index": 0}
        yield event("response.content_part.added", **ids, part={"type": "output_text", "text": "", "annotations": []})
        for i, word in enumerate(text.split(" ")):
            if model == "cut" and i >= 2:
                raise ConnectionResetError("scripted cut")
            yield event("response.output_text.delta", **ids, delta=word if i == 0 else " " + word)
        yield event("response.output_text.done", **ids, text=text)
        part = {"type": "output_text", "text": text, "annotations": []}
        yield event("response.content_part.done", **ids, part=part)
        yield event(
            "response.output_item.done", output_index=0, item={**item, "status": "completed", "content": [part]}
        )
        yield event("response.completed", response=_response(model, text, "completed", usage))

    return responses
