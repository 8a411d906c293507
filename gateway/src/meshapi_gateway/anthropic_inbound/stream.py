"""The gateway's chat chunks → Anthropic's stream events, as SSE frames.

The sequence Anthropic documents: ``message_start`` (then a ``ping``, and another in every
quiet interval: ``keepalive.py``), per content block
``content_block_start`` / ``content_block_delta``* / ``content_block_stop``, then
``message_delta`` (stop reason and the usage) and ``message_stop``. Reasoning streams as a
``thinking`` block, text as a ``text`` block, and each tool call (the pipeline delivers it
whole) as a ``tool_use`` block whose input comes in one ``input_json_delta``. An OpenAI stream
tells the prompt size only at its end, so ``message_start`` carries 0 input tokens (the local
model's exact count when the gateway counted the prompt beforehand) and the final
``message_delta`` carries the whole usage. A failure after the first byte is an
``error`` event, never a silent end.
"""

from __future__ import annotations

from typing import Any

from meshapi_gateway.anthropic_inbound.errors import event_payload
from meshapi_gateway.anthropic_inbound.response import stop_reason, stopped_by, usage_of
from meshapi_gateway.sse import frame


def event(name: str, payload: dict[str, Any]) -> bytes:
    return frame(payload, event=name)


PING = event("ping", {"type": "ping"})


def error_event(kind: str, message: str, request_id: str | None = None) -> bytes:
    return event("error", event_payload(kind, message, request_id))


class MessageStream:
    """Feed chat chunks in, get Anthropic event frames out."""

    def __init__(
        self, message_id: str, model: str, window_limited: bool = False, input_tokens: int | None = None
    ) -> None:
        self.message_id = message_id
        self.model = model
        self.window_limited = window_limited
        self.input_tokens = input_tokens  # known before the answer (the local model's count), else None
        self._index = -1
        self._open: str | None = None  # type of the block being streamed
        self._stop_reason = "end_turn"
        self._stop_sequence: str | None = None
        self._calls = 0

    def start(self) -> bytes:
        message: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens or 0, "output_tokens": 0},
        }
        return event("message_start", {"type": "message_start", "message": message}) + PING

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return event("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def _begin(self, block: dict[str, Any]) -> bytes:
        out = self._close()
        self._index += 1
        self._open = block["type"]
        return out + event(
            "content_block_start", {"type": "content_block_start", "index": self._index, "content_block": block}
        )

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return event("content_block_delta", {"type": "content_block_delta", "index": self._index, "delta": delta})

    def feed(self, chunk: dict[str, Any]) -> bytes:
        out: list[bytes] = []
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                if self._open != "thinking":
                    out.append(self._begin({"type": "thinking", "thinking": "", "signature": ""}))
                out.append(self._delta({"type": "thinking_delta", "thinking": reasoning}))
            text = delta.get("content")
            if isinstance(text, str) and text:
                if self._open != "text":
                    out.append(self._begin({"type": "text", "text": ""}))
                out.append(self._delta({"type": "text_delta", "text": text}))
            for call in delta.get("tool_calls") or []:
                out.append(self._tool_use(call))
            finish = choice.get("finish_reason")
            if finish:
                self._stop_reason = stop_reason(finish, self.window_limited)
                self._stop_sequence = stopped_by(choice)
                if self._stop_sequence is not None:
                    self._stop_reason = "stop_sequence"
        return b"".join(out)

    def _tool_use(self, call: dict[str, Any]) -> bytes:
        fn = call.get("function") or {}
        self._calls += 1
        out = self._begin(
            {"type": "tool_use", "id": str(call.get("id") or ""), "name": str(fn.get("name") or ""), "input": {}}
        )
        arguments = fn.get("arguments")
        if isinstance(arguments, str) and arguments.strip() not in ("", "{}"):
            out += self._delta({"type": "input_json_delta", "partial_json": arguments})
        return out + self._close()

    def finish(self, usage: dict[str, Any] | None) -> bytes:
        """The closing events; ``usage`` is the chat usage (None when the upstream sent none)."""
        reason = "tool_use" if self._calls else self._stop_reason
        sequence = None if self._calls else self._stop_sequence
        return (
            self._close()
            + event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": sequence},
                    "usage": usage_of(usage),
                },
            )
            + event("message_stop", {"type": "message_stop"})
        )

    def fail(self, kind: str, message: str, request_id: str | None = None) -> bytes:
        """A failure after the stream started: the ``error`` event, as Anthropic sends it (no block is closed)."""
        return error_event(kind, message, request_id)
