"""Just enough of a MeshAPI gateway to run the README examples against."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

from scripted_server import Recorded, Reply, empty_reply, json_reply, raw_reply, sse_frames, sse_reply

MODEL = {
    "id": "openai/gpt-4o-mini",
    "name": "GPT-4o mini",
    "is_free": False,
    "context_length": 128000,
    "pricing": {"prompt_usd_per_1k": "0.000150", "completion_usd_per_1k": "0.000600"},
}
FREE_MODEL = {
    "id": "meta/llama-free",
    "name": "Llama",
    "is_free": True,
    "pricing": {"prompt_usd_per_1k": "0", "completion_usd_per_1k": "0"},
}
TEMPLATE = {
    "id": "8f7c",
    "name": "support-agent",
    "owner": "u1",
    "is_global": False,
    "created_at": "2025-01-01T00:00:00Z",
    "updated_at": "2025-01-01T00:00:00Z",
}


def _chunk(delta: Dict[str, Any], finish: Any = None) -> Dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def handle(req: Recorded) -> Reply:
    body = req.json() if req.body else {}
    path = req.path
    if path == "/v1/chat/completions":
        if body.get("stream"):
            if body.get("tools"):
                frames = [
                    _chunk(
                        {
                            "role": "assistant",
                            "tool_calls": [
                                {
                                    "index": 0,
                                    "id": "call_1",
                                    "type": "function",
                                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                                }
                            ],
                        },
                        "tool_calls",
                    )
                ]
            else:
                frames = [_chunk({"role": "assistant", "content": "Hello"}), _chunk({"content": " world"}, "stop")]
            usage = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [],
                "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
                "cost": "0.000001",
            }
            return sse_reply(sse_frames(*frames, usage))
        return json_reply(
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": body.get("model") or "m",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
            },
        )
    if path == "/v1/responses":
        return json_reply(
            200,
            {
                "id": "resp_1",
                "object": "response",
                "status": "completed",
                "output": [
                    {
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": "It is undecidable.", "annotations": []}],
                    }
                ],
                "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
            },
        )
    if path == "/v1/embeddings":
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return json_reply(
            200,
            {
                "object": "list",
                "model": body.get("model"),
                "data": [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(len(inputs))],
                "usage": {"prompt_tokens": 2, "total_tokens": 2},
            },
        )
    if path == "/v1/chat/compare":
        if body.get("stream"):
            parts = [
                b"event: meta\ndata: "
                + json.dumps({"event": "meta", "data": {"models": body["models"]}}).encode()
                + b"\n\n"
            ]
            for m in body["models"]:
                payload = {"event": "delta", "data": {"model": m, "delta": "One sentence."}, "error": None}
                parts.append(b"event: delta\ndata: " + json.dumps(payload).encode() + b"\n\n")
            parts.append(b'event: done\ndata: {"event": "done", "data": {"comparison_id": "cmp_1"}}\n\n')
            return sse_reply(parts)
        return json_reply(
            200,
            {
                "comparison_id": "cmp_1",
                "object": "chat.comparison",
                "created": 1,
                "models": body["models"],
                "results": [],
                "total_latency_ms": 1,
            },
        )
    if path == "/v1/files" and req.method == "POST":
        return json_reply(200, {"id": "file-1", "object": "file", "purpose": "batch", "bytes": 10})
    if path.startswith("/v1/files/") and path.endswith("/content"):
        return raw_reply(200, b'{"custom_id": "req-1"}\n', "application/octet-stream")
    if path == "/v1/batches" and req.method == "POST":
        return json_reply(
            200, {"id": "batch-1", "object": "batch", "status": "validating", "input_file_id": body["input_file_id"]}
        )
    if path.startswith("/v1/batches/"):
        return json_reply(
            200, {"id": "batch-1", "object": "batch", "status": "completed", "output_file_id": "file-out"}
        )
    if path == "/v1/models":
        return json_reply(200, [MODEL, FREE_MODEL])
    if path == "/v1/models/free":
        return json_reply(200, [FREE_MODEL])
    if path == "/v1/models/paid":
        return json_reply(200, [MODEL])
    if path == "/v1/models/search":
        return json_reply(200, {"items": [MODEL], "total": 1, "limit": 10, "offset": 0, "brands": ["openai"]})
    if path == "/v1/models/" + MODEL["id"]:
        return json_reply(200, MODEL)
    if path == "/v1/router/select":
        return json_reply(
            200,
            {
                "model": MODEL["id"],
                "resolved_model_id": MODEL["id"],
                "auto_router": {"fallback_used": False, "fallback_reason": None},
                "reason": "the only qualifying model",
                "candidates": [{"model": MODEL["id"], "selected": True, "estimated_cost_usd": "0.0001"}],
            },
        )
    if path == "/v1/web/search":
        return json_reply(
            200,
            {
                "query": body["query"],
                "answer": None,
                "provider": "tavily",
                "request_id": "req_1",
                "results": [{"title": "Python", "url": "https://www.python.org/", "content": "..."}],
            },
        )
    if path == "/v1/templates":
        if req.method == "POST":
            return json_reply(201, {**TEMPLATE, **body})
        return json_reply(200, [TEMPLATE])
    if path.startswith("/v1/templates/"):
        if req.method == "DELETE":
            return empty_reply(204)
        if req.method == "PATCH":
            return json_reply(200, {**TEMPLATE, **body})
        return json_reply(200, TEMPLATE)
    governance = _governance(req, path, body)
    if governance is not None:
        return governance
    return json_reply(404, {"error": {"code": "not_found", "message": path}})


KEY = {
    "id": "key_1",
    "object": "api_key",
    "owner": "acme-bob",
    "name": "nightly",
    "prefix": "rsk_abcd",
    "suspended": False,
}
TEAM = {"id": "team_1", "object": "team", "name": "acme", "members": {"acme-ann": "admin"}}


def _governance(req: Recorded, path: str, body: Dict[str, Any]) -> Optional[Reply]:
    """Keys, teams, usage and balance, as the gateway's control plane answers them."""
    if path == "/v1/keys":
        if req.method == "POST":
            return json_reply(201, {**KEY, **body, "key": "rsk_new"})
        return json_reply(200, {"object": "list", "data": [KEY]})
    if path.startswith("/v1/keys/"):
        if req.method == "DELETE":
            return empty_reply(204)
        if path.endswith(("/suspend", "/resume")):
            return json_reply(200, {**KEY, "suspended": path.endswith("/suspend")})
        return json_reply(200, {**KEY, **body, "spend_usd": "0.25"})
    if path == "/v1/teams" and req.method == "POST":
        return json_reply(201, {**TEAM, **body})
    if path == "/v1/usage":
        if "group_by=" in req.query:
            group = {"model": "openai/gpt-4o-mini", "requests": 2, "cost_usd": "0.5"}
            return json_reply(200, {"object": "list", "group_by": "model", "data": [group], "total_count": 2})
        return json_reply(200, {"object": "list", "data": [], "has_more": False, "total_count": 0})
    if path == "/v1/balance":
        return json_reply(200, {"object": "balance", "owner": "acme-bob", "available_usd": "9.5"})
    return None
