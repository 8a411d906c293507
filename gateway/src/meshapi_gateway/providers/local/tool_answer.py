"""The model's output as OpenAI's answer shapes: text, or ``tool_calls`` (whole, one per streamed delta).

``arguments`` are re-serialized from the parsed JSON, so what a client receives is always
strict JSON (escaped control characters, no stray whitespace), whatever the model wrote
inside the grammar's bounds.
"""

from __future__ import annotations

import json
import time
from typing import Any

import orjson

from meshapi_gateway.chat.normalize import call_id


def parse_calls(text: str) -> list[dict[str, Any]] | None:
    """OpenAI ``tool_calls`` from the model's JSON, or None when ``text`` is not a complete call."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        return None
    try:
        data = json.loads(stripped, strict=False)  # a raw control character inside a string is tolerated here
    except ValueError:
        return None
    raw_calls = data.get("tool_calls") if isinstance(data, dict) else None
    if not isinstance(raw_calls, list) or not raw_calls:
        return None
    calls = []
    for raw in raw_calls:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            return None
        arguments = raw.get("arguments")
        calls.append(
            {
                "id": call_id(),
                "type": "function",
                "function": {
                    "name": raw["name"],
                    "arguments": orjson.dumps(arguments if arguments is not None else {}).decode(),
                },
            }
        )
    return calls


def completion(
    completion_id: str,
    model: str,
    text: str,
    calls: list[dict[str, Any]] | None,
    finish: str,
    usage: dict[str, Any],
    stop_sequence: str | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None if calls else text}
    if calls:
        message["tool_calls"] = calls
        finish = "tool_calls"
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [_choice({"message": message}, finish, stop_sequence)],
        "usage": usage,
    }


def chunk(
    completion_id: str, model: str, delta: dict[str, Any], finish: str | None = None, stop_sequence: str | None = None
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [_choice({"delta": delta}, finish, stop_sequence)],
    }


def _choice(body: dict[str, Any], finish: str | None, stop_sequence: str | None) -> dict[str, Any]:
    """A choice; ``stop_reason`` names the client's stop sequence that ended it (as vLLM's answers do)."""
    choice: dict[str, Any] = {"index": 0, **body, "finish_reason": finish}
    if stop_sequence is not None:
        choice["stop_reason"] = stop_sequence
    return choice


def call_chunks(completion_id: str, model: str, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stream of an answer made of calls: each call whole with its ``index``, then ``tool_calls``."""
    out = [chunk(completion_id, model, {"role": "assistant"})]
    for index, call in enumerate(calls):
        out.append(chunk(completion_id, model, {"tool_calls": [{"index": index, **call}]}))
    out.append(chunk(completion_id, model, {}, "tool_calls"))
    return out
