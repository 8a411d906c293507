"""Builds the final ``ChatCompletionResponse`` from a chat stream's chunks.

Tool calls arrive either whole (one delta per call, what MeshAPI gateways
send) or as OpenAI-style fragments keyed by ``index`` (name first, then
pieces of ``arguments``); both are merged here.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

from .types.chat import (
    ChatCompletionChunk,
    ChatCompletionResponse,
    ToolCallDelta,
)
from .types.shared import Usage

__all__ = ["ChatCompletionAccumulator", "accumulate"]


class _ToolCallState:
    __slots__ = ("arguments", "extra", "id", "name", "type")

    def __init__(self) -> None:
        self.id: Optional[str] = None
        self.type: Optional[str] = None
        self.name: List[str] = []
        self.arguments: List[str] = []
        self.extra: Dict[str, Any] = {}


class _ChoiceState:
    __slots__ = ("content", "extra_text", "finish_reason", "order", "refusal", "role", "tool_calls")

    def __init__(self) -> None:
        self.role: Optional[str] = None
        self.content: List[str] = []
        self.refusal: List[str] = []
        self.finish_reason: Optional[str] = None
        self.tool_calls: Dict[int, _ToolCallState] = {}
        self.order: List[int] = []
        # Provider extras such as ``reasoning`` / ``reasoning_content`` text.
        self.extra_text: Dict[str, List[str]] = {}


class ChatCompletionAccumulator:
    """Feed chunks with :meth:`add`; read the result with :meth:`get_final_completion`."""

    def __init__(self) -> None:
        self._id = ""
        self._model = ""
        self._created = 0
        self._fingerprint: Optional[str] = None
        self._usage: Optional[Usage] = None
        self._cost: Optional[str] = None
        self._choices: Dict[int, _ChoiceState] = {}

    def add(self, chunk: ChatCompletionChunk) -> None:
        if chunk.id and not self._id:
            self._id = chunk.id
        if chunk.model and not self._model:
            self._model = chunk.model
        if chunk.created and not self._created:
            self._created = chunk.created
        if chunk.system_fingerprint:
            self._fingerprint = chunk.system_fingerprint
        if chunk.usage is not None:
            self._usage = chunk.usage
        if chunk.cost is not None:
            self._cost = chunk.cost
        for choice in chunk.choices:
            state = self._choices.get(choice.index)
            if state is None:
                state = self._choices[choice.index] = _ChoiceState()
            if choice.finish_reason:
                state.finish_reason = choice.finish_reason
            delta = choice.delta
            if delta is None:
                continue
            if delta.role:
                state.role = delta.role
            if delta.content:
                state.content.append(delta.content)
            if delta.refusal:
                state.refusal.append(delta.refusal)
            if delta.tool_calls:
                for call in delta.tool_calls:
                    self._add_tool_call(state, call)
            extra = delta.model_extra
            if extra:
                for key, value in extra.items():
                    if isinstance(value, str):
                        state.extra_text.setdefault(key, []).append(value)

    @staticmethod
    def _add_tool_call(state: _ChoiceState, call: ToolCallDelta) -> None:
        index = call.index
        if index is None:
            # No index: a new id starts a new call, otherwise continue the last.
            if call.id is not None and all(t.id != call.id for t in state.tool_calls.values()):
                index = len(state.order)
            elif call.id is not None:
                index = next(i for i, t in state.tool_calls.items() if t.id == call.id)
            else:
                index = state.order[-1] if state.order else 0
        tc = state.tool_calls.get(index)
        if tc is None:
            tc = state.tool_calls[index] = _ToolCallState()
            state.order.append(index)
        if call.id:
            tc.id = call.id
        if call.type:
            tc.type = call.type
        fn = call.function
        if fn is not None:
            if fn.name:
                # Whole-call deltas repeat nothing, fragments send the name once;
                # a repeated identical name is not concatenated.
                if not tc.name or "".join(tc.name) != fn.name:
                    tc.name.append(fn.name)
            if fn.arguments:
                tc.arguments.append(fn.arguments)
            if fn.model_extra:
                tc.extra.update(fn.model_extra)

    def get_final_completion(self) -> ChatCompletionResponse:
        choices: List[Dict[str, Any]] = []
        for index in sorted(self._choices):
            state = self._choices[index]
            message: Dict[str, Any] = {
                "role": state.role or "assistant",
                "content": "".join(state.content) if state.content else None,
            }
            if state.refusal:
                message["refusal"] = "".join(state.refusal)
            for key, parts in state.extra_text.items():
                message[key] = "".join(parts)
            if state.order:
                message["tool_calls"] = [
                    {
                        "id": tc.id or "",
                        "type": tc.type or "function",
                        "function": {
                            "name": "".join(tc.name),
                            "arguments": "".join(tc.arguments),
                            **tc.extra,
                        },
                    }
                    for tc in (state.tool_calls[i] for i in state.order)
                ]
            choices.append({"index": index, "message": message, "finish_reason": state.finish_reason})
        return ChatCompletionResponse.model_validate(
            {
                "id": self._id,
                "object": "chat.completion",
                "created": self._created,
                "model": self._model,
                "choices": choices,
                "usage": self._usage,
                "system_fingerprint": self._fingerprint,
                "cost": self._cost,
            }
        )


def accumulate(chunks: Iterable[ChatCompletionChunk]) -> ChatCompletionResponse:
    """Turn the chunks of one chat stream into the equivalent completion."""
    acc = ChatCompletionAccumulator()
    for chunk in chunks:
        acc.add(chunk)
    return acc.get_final_completion()
