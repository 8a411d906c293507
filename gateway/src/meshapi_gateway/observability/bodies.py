"""Request and answer bodies for the request log: reassembled, redacted, then capped.

Bodies are kept only when the operator turns them on (``request_log.bodies`` for every
request, ``request_log.bodies_keys`` for some keys). Before anything is stored, patterns
that look like secrets or personal data are replaced: our keys (``rsk_…``), vendor keys
(``sk-…``), bearer tokens, e-mail addresses, and the operator's own patterns. Only then is
the text cut to ``body_max_bytes``, so a cut can never leave half a key readable.

A streamed answer is stored as the client would have assembled it: the chat chunks' deltas
joined into one message per choice (other event streams are kept as their event text).
This runs on the request log's writer, never on a request's path.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

REDACTED = "[REDACTED]"
BUILTIN_PATTERNS = (
    (re.compile(r"rsk_[A-Za-z0-9_\-]{8,}"), "[REDACTED_KEY]"),
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"), "[REDACTED_KEY]"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]{8,}=*"), "Bearer [REDACTED]"),
    (re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"), "[REDACTED_EMAIL]"),
)


class Redactor:
    def __init__(self, extra_patterns: list[str], max_bytes: int) -> None:
        self.patterns = [*BUILTIN_PATTERNS, *((re.compile(p), REDACTED) for p in extra_patterns)]
        self.max_bytes = max_bytes

    def __call__(self, raw: bytes | str | None) -> str | None:
        if raw is None:
            return None
        # Read a margin past the cap, so that a secret straddling the cap is still recognised.
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        total = len(text)
        text = text[: self.max_bytes * 2]
        for pattern, replacement in self.patterns:
            text = pattern.sub(replacement, text)
        encoded = text.encode()
        if len(encoded) <= self.max_bytes and total <= self.max_bytes * 2:
            return text
        cut = encoded[: self.max_bytes].decode("utf-8", "ignore")
        return f"{cut}…[truncated, {total} characters in all]"


def reassemble_sse(raw: bytes) -> bytes:
    """A chat completion stream joined into one answer; any other event stream as it came."""
    choices: dict[int, dict[str, Any]] = {}
    head: dict[str, Any] = {}
    usage: Any = None
    error: Any = None
    chat = False
    for line in raw.split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]" or not data:
            continue
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return raw
        if not isinstance(event, dict):
            return raw
        if "error" in event:
            error = event["error"]
            continue
        if event.get("object") != "chat.completion.chunk":
            return raw
        chat = True
        head = {k: event[k] for k in ("id", "model", "created") if k in event}
        if event.get("usage"):
            usage = event["usage"]
        for choice in event.get("choices") or []:
            _merge_choice(choices.setdefault(int(choice.get("index", 0)), {"role": "assistant", "content": ""}), choice)
    if not chat and error is None:
        return raw
    out: dict[str, Any] = {
        **head,
        "object": "chat.completion",
        "choices": [
            {
                "index": i,
                "message": {k: v for k, v in c.items() if k != "finish_reason"},
                "finish_reason": c.get("finish_reason"),
            }
            for i, c in sorted(choices.items())
        ],
    }
    if usage is not None:
        out["usage"] = usage
    if error is not None:
        out["error"] = error
    return orjson.dumps(out)


def _merge_choice(message: dict[str, Any], choice: dict[str, Any]) -> None:
    delta = choice.get("delta") or {}
    if isinstance(delta.get("content"), str):
        message["content"] += delta["content"]
    for call in delta.get("tool_calls") or []:
        calls = message.setdefault("tool_calls", [])
        index = int(call.get("index", len(calls)))
        while len(calls) <= index:
            calls.append({"type": "function", "function": {"name": "", "arguments": ""}})
        target = calls[index]
        if call.get("id"):
            target["id"] = call["id"]
        fn = call.get("function") or {}
        target["function"]["name"] += fn.get("name") or ""
        target["function"]["arguments"] += fn.get("arguments") or ""
    if choice.get("finish_reason"):
        message["finish_reason"] = choice["finish_reason"]
