"""Chat stream chunks → Responses stream events, in the order OpenAI sends them.

``response.created`` and ``response.in_progress`` first; each output item is opened
(``response.output_item.added``), filled (``content_part.added`` + ``output_text.delta`` for
text, ``function_call_arguments.delta`` for a tool call) and closed (``…done`` events);
``response.completed`` (or ``response.incomplete``) carries the whole object with usage.
Every frame has an ``event:`` line and a ``sequence_number``; the item ids stay the same
from ``added`` to ``completed``, which the official client's stream helper checks.
"""

from __future__ import annotations

import time
from typing import Any

from meshapi_gateway.responses import objects
from meshapi_gateway.sse import frame


class ResponseEvents:
    def __init__(self, body: dict[str, Any], model: str) -> None:
        self.response = objects.skeleton(objects.new_id("resp"), int(time.time()), model, body)
        self.sequence = 0
        self.output: list[dict[str, Any]] = []  # finished items, in output order
        self._text: list[str] | None = None  # the open message's text pieces, when a message is open
        self._message_id = ""
        self._reasoning: list[str] = []
        self.finish_reason: str | None = None

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return frame(payload, event=kind)

    def _snapshot(self) -> dict[str, Any]:
        return {**self.response, "output": list(self.output)}

    def start(self) -> list[bytes]:
        return [
            self._event("response.created", response=self._snapshot()),
            self._event("response.in_progress", response=self._snapshot()),
        ]

    # -- items -------------------------------------------------------------------------------------
    def _flush_reasoning(self) -> list[bytes]:
        if not self._reasoning:
            return []
        item = objects.reasoning_item(objects.new_id("rs"), "".join(self._reasoning))
        self._reasoning = []
        index = len(self.output)
        self.output.append(item)
        return [
            self._event(
                "response.output_item.added", output_index=index, item={**item, "status": "in_progress", "summary": []}
            ),
            self._event("response.output_item.done", output_index=index, item=item),
        ]

    def _open_message(self) -> list[bytes]:
        out = self._flush_reasoning()
        self._message_id = objects.new_id("msg")
        self._text = []
        index = len(self.output)
        item = {"id": self._message_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}
        out.append(self._event("response.output_item.added", output_index=index, item=item))
        out.append(
            self._event(
                "response.content_part.added",
                item_id=self._message_id,
                output_index=index,
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            )
        )
        return out

    def _close_message(self) -> list[bytes]:
        if self._text is None:
            return []
        text = "".join(self._text)
        self._text = None
        index = len(self.output)
        item = objects.message_item(self._message_id, text)
        self.output.append(item)
        ids = {"item_id": self._message_id, "output_index": index, "content_index": 0}
        return [
            self._event("response.output_text.done", **ids, text=text, logprobs=[]),
            self._event("response.content_part.done", **ids, part=item["content"][0]),
            self._event("response.output_item.done", output_index=index, item=item),
        ]

    def _tool_call(self, call: dict[str, Any]) -> list[bytes]:
        out = self._close_message() + self._flush_reasoning()
        item = objects.function_call_item(objects.new_id("fc"), call)
        index = len(self.output)
        self.output.append(item)
        out.append(
            self._event(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "arguments": ""},
            )
        )
        out.append(
            self._event(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=index,
                delta=item["arguments"],
            )
        )
        out.append(
            self._event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                name=item["name"],
                arguments=item["arguments"],
            )
        )
        out.append(self._event("response.output_item.done", output_index=index, item=item))
        return out

    # -- input -------------------------------------------------------------------------------------
    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                self._reasoning.append(reasoning)
            content = delta.get("content")
            if isinstance(content, str) and content:
                if self._text is None:
                    out += self._open_message()
                assert self._text is not None
                self._text.append(content)
                out.append(
                    self._event(
                        "response.output_text.delta",
                        item_id=self._message_id,
                        output_index=len(self.output),
                        content_index=0,
                        delta=content,
                        logprobs=[],
                    )
                )
            for call in delta.get("tool_calls") or []:
                out += self._tool_call(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return out

    def finish(self, usage: dict[str, Any] | None, cost: str | None) -> list[bytes]:
        """Close what is open and send the terminal event with the whole response."""
        out = self._close_message() + self._flush_reasoning()
        if not self.output:
            out += self._open_message() + self._close_message()  # an empty answer is still one message
        status, incomplete = objects.finish_status(self.finish_reason)
        final = {
            **self._snapshot(),
            "status": status,
            "incomplete_details": incomplete,
            "usage": objects.usage_object(usage),
        }
        if cost is not None:
            final["cost"] = cost
        self.response = final
        kind = "response.completed" if status == "completed" else "response.incomplete"
        out.append(self._event(kind, response=final))
        return out

    def error(self, code: str, message: str, request_id: str) -> bytes:
        """The mid-stream error frame (docs/wire.md, SSE framing) that is also an OpenAI ``error`` event."""
        err = {"code": code, "message": message, "request_id": request_id}
        return self._event("error", code=code, message=message, param=None, error=err)
