"""Responses API types (docs/wire.md, Responses API): reasoning models, OpenAI Responses shape."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

from .._models import Model, RequestParams

__all__ = ["ResponsesParams", "ResponsesResponse", "ResponsesStreamEvent", "ResponsesUsage"]


class ResponsesParams(RequestParams):
    input: Union[str, List[Any]]
    model: Optional[str] = None
    stream: Optional[bool] = False
    template: Optional[str] = None
    variables: Optional[Dict[str, str]] = None
    session_id: Optional[str] = None
    instructions: Optional[str] = None
    max_output_tokens: Optional[int] = None
    temperature: Optional[float] = None
    top_p: Optional[float] = None
    seed: Optional[int] = None
    reasoning: Optional[Dict[str, Any]] = None
    tools: Optional[List[Dict[str, Any]]] = None
    tool_choice: Optional[Union[str, Dict[str, Any]]] = None
    parallel_tool_calls: Optional[bool] = None
    max_tool_calls: Optional[int] = None
    response_format: Optional[Dict[str, Any]] = None
    text: Optional[Dict[str, Any]] = None
    plugins: Optional[List[Any]] = None
    previous_response_id: Optional[str] = None
    background: Optional[bool] = None
    store: Optional[bool] = None
    include: Optional[List[str]] = None
    metadata: Optional[Dict[str, str]] = None
    truncation: Optional[str] = None
    user: Optional[str] = None


class ResponsesUsage(Model):
    input_tokens: Optional[int] = None
    output_tokens: Optional[int] = None
    total_tokens: Optional[int] = None
    input_tokens_details: Optional[Dict[str, Any]] = None
    output_tokens_details: Optional[Dict[str, Any]] = None
    prompt_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None
    classifier_tokens: Optional[int] = None


class ResponsesResponse(Model):
    id: Optional[str] = None
    object: Optional[str] = None
    created_at: Optional[Union[int, float]] = None
    model: Optional[str] = None
    status: Optional[str] = None
    output: Optional[List[Any]] = None
    usage: Optional[ResponsesUsage] = None
    error: Optional[Any] = None

    @property
    def output_text(self) -> str:
        """Concatenated ``output_text`` parts of all message items."""
        pieces: List[str] = []
        for item in self.output or []:
            content = item.get("content") if isinstance(item, dict) else None
            if not isinstance(content, list):
                continue
            for part in content:
                if isinstance(part, dict) and part.get("type") == "output_text":
                    text = part.get("text")
                    if isinstance(text, str):
                        pieces.append(text)
        return "".join(pieces)


class ResponsesStreamEvent(Model):
    """One Responses stream event: ``type`` plus whatever the event carries."""

    type: Optional[str] = None
    response: Optional[Dict[str, Any]] = None
    usage: Optional[Dict[str, Any]] = None
    delta: Optional[Any] = None
    sequence_number: Optional[int] = None
