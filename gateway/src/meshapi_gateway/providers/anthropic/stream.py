"""Anthropic stream events → OpenAI ``chat.completion.chunk`` dicts.

Event grammar (Messages streaming): ``message_start``, then per content block
``content_block_start`` / ``content_block_delta``* / ``content_block_stop``, then
``message_delta`` (stop reason, cumulative usage) and ``message_stop``; ``ping`` may come
anywhere and ``error`` ends the stream. Tool-use input arrives as ``input_json_delta``
fragments; they are passed on as OpenAI fragments keyed by the call's ``index`` and the
pipeline's normalizer sends each call whole. Thinking streams as ``reasoning_content``; when a
thinking block ends, the whole signed block follows as ``thinking_blocks`` so a client can hand
it back with its tool results. Unknown events are ignored, as Anthropic asks.
"""

from __future__ import annotations

import time
from typing import Any

from meshapi_gateway.providers.anthropic import errors
from meshapi_gateway.providers.anthropic.response import completion_id, finish_reason, usage
from meshapi_gateway.providers.translation import dump_arguments


class AnthropicStreamTranslator:
    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.created = int(time.time())
        self.usage: dict[str, Any] = {}
        self.finish_reason: str | None = None
        self.done = False
        self._tool_index: dict[int, int] = {}  # content block index → tool call index
        self._thinking: dict[int, dict[str, Any]] = {}  # content block index → thinking block being built

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def feed(self, event: str, data: Any) -> list[dict[str, Any]]:
        """One event in, the chunks it stands for out; raises ``UpstreamError`` on an ``error`` event."""
        kind = data.get("type", event) if isinstance(data, dict) else event
        if kind == "error":
            raise errors.from_event(data)
        if not isinstance(data, dict):
            return []
        if kind == "message_start":
            message = data.get("message") or {}
            self.id = completion_id(message.get("id"))
            self.model = str(message.get("model") or "")
            self.usage.update(message.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._block_start(int(data.get("index") or 0), data.get("content_block") or {})
        if kind == "content_block_delta":
            return self._block_delta(int(data.get("index") or 0), data.get("delta") or {})
        if kind == "content_block_stop":
            block = self._thinking.pop(int(data.get("index") or 0), None)
            # The whole signed block, for clients that send thinking back with tool results.
            return [self._chunk({"thinking_blocks": [block]})] if block is not None else []
        if kind == "message_delta":
            self.usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
            reason = (data.get("delta") or {}).get("stop_reason")
            if reason is not None:
                self.finish_reason = finish_reason(reason)
            return []
        if kind == "message_stop":
            # The finish reason goes out only now: a stream cut before message_stop never looks finished.
            self.done = True
            return [
                self._chunk({}, self.finish_reason or "stop"),
                {
                    "id": self.id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "choices": [],
                    "usage": usage(self.usage),
                },
            ]
        return []  # ping and event types added later

    def _block_start(self, index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if kind == "thinking":
            self._thinking[index] = {
                "type": "thinking",
                "thinking": block.get("thinking") or "",
                "signature": block.get("signature") or "",
            }
            return [self._chunk({"reasoning_content": block["thinking"]})] if block.get("thinking") else []
        if kind == "redacted_thinking":
            return [self._chunk({"thinking_blocks": [block]})]
        if kind == "tool_use":
            call_index = self._tool_index[index] = len(self._tool_index)
            initial = block.get("input")
            return [
                self._chunk(
                    {
                        "tool_calls": [
                            {
                                "index": call_index,
                                "id": block.get("id") or "",
                                "type": "function",
                                "function": {
                                    "name": block.get("name") or "",
                                    "arguments": dump_arguments(initial) if initial else "",
                                },
                            }
                        ]
                    }
                )
            ]
        return []

    def _block_delta(self, index: int, delta: dict[str, Any]) -> list[dict[str, Any]]:
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text") or ""
            return [self._chunk({"content": text})] if text else []
        if kind == "thinking_delta":
            text = delta.get("thinking") or ""
            if index in self._thinking:
                self._thinking[index]["thinking"] += text
            return [self._chunk({"reasoning_content": text})] if text else []
        if kind == "signature_delta":
            if index in self._thinking:
                self._thinking[index]["signature"] += delta.get("signature") or ""
            return []
        if kind == "input_json_delta":
            partial = delta.get("partial_json") or ""
            call_index = self._tool_index.get(index)
            if call_index is None or not partial:
                return []
            return [self._chunk({"tool_calls": [{"index": call_index, "function": {"arguments": partial}}]})]
        return []  # citations_delta: no OpenAI counterpart
