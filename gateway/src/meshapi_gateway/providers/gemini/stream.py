"""Gemini ``streamGenerateContent?alt=sse`` events → OpenAI ``chat.completion.chunk`` dicts.

Every event is a whole ``GenerateContentResponse`` holding the next piece of each
candidate; function calls arrive complete, ``usageMetadata`` is cumulative and the last
event of a candidate carries its ``finishReason``. There is no end-of-stream marker, so a
stream is complete only when every candidate seen has finished; finish reasons are held
until the upstream closes the stream, so a cut stream never looks finished.
"""

from __future__ import annotations

import time
from typing import Any

from meshapi_gateway.providers.gemini import errors
from meshapi_gateway.providers.gemini.response import completion_id, finish_reason, split_parts, usage


class GeminiStreamTranslator:
    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.created = int(time.time())
        self.usage: dict[str, Any] | None = None
        self._started: set[int] = set()
        self._calls: dict[int, int] = {}  # candidate index → tool calls sent so far
        self._finish: dict[int, str] = {}
        self._seen: set[int] = set()

    @property
    def done(self) -> bool:
        return bool(self._seen) and self._seen <= set(self._finish)

    def _chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }

    def feed(self, data: Any) -> list[dict[str, Any]]:
        if isinstance(data, dict) and "error" in data:
            raise errors.from_event(data)
        if not isinstance(data, dict):
            return []
        if not self.id:
            self.id = completion_id(data)
            self.model = str(data.get("modelVersion") or "")
        counted = usage(data.get("usageMetadata"))
        if counted is not None:
            self.usage = counted
        candidates = data.get("candidates") or []
        if not candidates and (data.get("promptFeedback") or {}).get("blockReason"):
            self._seen.add(0)
            self._finish[0] = "content_filter"
            return []
        choices = []
        for i, candidate in enumerate(candidates):
            index = int(candidate.get("index", i))
            self._seen.add(index)
            texts, thoughts, calls = split_parts((candidate.get("content") or {}).get("parts") or [])
            delta: dict[str, Any] = {}
            if index not in self._started:
                self._started.add(index)
                delta["role"] = "assistant"
                delta["content"] = ""
            if texts:
                delta["content"] = "".join(texts)
            if thoughts:
                delta["reasoning_content"] = "".join(thoughts)
            if calls:
                first = self._calls.get(index, 0)
                delta["tool_calls"] = [{"index": first + k, **call} for k, call in enumerate(calls)]
                self._calls[index] = first + len(calls)
            reason = candidate.get("finishReason")
            if reason:
                self._finish[index] = finish_reason(reason, index in self._calls) or "stop"
            if delta:
                choices.append({"index": index, "delta": delta, "finish_reason": None})
        return [self._chunk(choices)] if choices else []

    def finish(self) -> list[dict[str, Any]]:
        """The chunks that close a complete stream: each candidate's finish reason, then usage."""
        out = [self._chunk([{"index": i, "delta": {}, "finish_reason": self._finish[i]}]) for i in sorted(self._finish)]
        if self.usage is not None:
            out.append({**self._chunk([]), "usage": self.usage})
        return out
