"""Chat completion request, response and stream chunk types (docs/wire.md, Chat completions)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

from pydantic import model_validator

from .._models import DecimalStr, Model, RequestParams
from .shared import Usage

__all__ = [
    "ChatCompletionChoice",
    "ChatCompletionChunk",
    "ChatCompletionChunkChoice",
    "ChatCompletionMessage",
    "ChatCompletionParams",
    "ChatCompletionResponse",
    "ChatMessage",
    "ChoiceDelta",
    "ContentPart",
    "ImageContentPart",
    "ImageOptions",
    "ImageURL",
    "InputAudio",
    "InputAudioContentPart",
    "TextContentPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallDeltaFunction",
    "ToolCallFunction",
    "ToolFunction",
]


class ImageURL(Model):
    url: str
    detail: Optional[str] = None


class TextContentPart(Model):
    type: str = "text"
    text: str


class ImageContentPart(Model):
    type: str = "image_url"
    image_url: ImageURL


class InputAudio(Model):
    data: str
    format: str


class InputAudioContentPart(Model):
    type: str = "input_audio"
    input_audio: InputAudio


ContentPart = Union[TextContentPart, ImageContentPart, InputAudioContentPart, Dict[str, Any]]


class ToolCallFunction(Model):
    name: str = ""
    arguments: str = ""


class ToolCall(Model):
    """A complete tool call, as found in a final assistant message."""

    id: str = ""
    type: str = "function"
    function: ToolCallFunction = ToolCallFunction()
    index: Optional[int] = None


class ChatMessage(Model):
    """One conversation message.

    Open to extra fields on purpose: assistant messages taken from a response
    (with ``refusal``, ``audio``, provider reasoning fields ...) can be sent
    back as history unchanged.
    """

    role: str
    content: Optional[Union[str, List[ContentPart]]] = None
    name: Optional[str] = None
    tool_calls: Optional[List[ToolCall]] = None
    tool_call_id: Optional[str] = None

    @model_validator(mode="before")
    @classmethod
    def _from_other_model(cls, value: Any) -> Any:
        # Accept a ChatCompletionMessage (or any model) from a previous reply.
        if hasattr(value, "model_dump") and not isinstance(value, ChatMessage):
            return value.model_dump(exclude_none=True)
        return value


class ToolFunction(Model):
    name: str
    description: Optional[str] = None
    parameters: Optional[Dict[str, Any]] = None
    strict: Optional[bool] = None


class Tool(Model):
    type: str = "function"
    function: ToolFunction


class ImageOptions(Model):
    """Image generation options; only the fields you set are sent."""

    n: Optional[int] = None
    size: Optional[str] = None
    quality: Optional[str] = None
    response_format: Optional[str] = None


class ChatCompletionParams(RequestParams):
    messages: List[ChatMessage]
    model: Optional[str] = None
    stream: Optional[bool] = False
    # MeshAPI extensions
    template: Optional[str] = None
    variables: Optional[Dict[str, str]] = None
    session_id: Optional[str] = None
    transforms: Optional[List[str]] = None
    models: Optional[List[str]] = None
    modality: Optional[str] = None
    image: Optional[ImageOptions] = None
    async_mode: Optional[bool] = None
    cache: Optional[bool] = None
    # OpenAI-compatible sampling and tooling
    temperature: Optional[float] = None
    max_tokens: Optional[int] = None
    max_completion_tokens: Optional[int] = None
    top_p: Optional[float] = None
    frequency_penalty: Optional[float] = None
    presence_penalty: Optional[float] = None
    stop: Optional[Union[str, List[str]]] = None
    seed: Optional[int] = None
    n: Optional[int] = None
    logprobs: Optional[bool] = None
    top_logprobs: Optional[int] = None
    logit_bias: Optional[Dict[str, float]] = None
    tools: Optional[List[Tool]] = None
    tool_choice: Optional[Union[str, Dict[str, Any]]] = None
    parallel_tool_calls: Optional[bool] = None
    response_format: Optional[Dict[str, Any]] = None
    stream_options: Optional[Dict[str, Any]] = None
    reasoning_effort: Optional[str] = None
    modalities: Optional[List[str]] = None
    audio: Optional[Dict[str, Any]] = None
    metadata: Optional[Dict[str, str]] = None
    user: Optional[str] = None


class ChatCompletionMessage(Model):
    role: str = "assistant"
    content: Optional[Union[str, List[Any]]] = None
    tool_calls: Optional[List[ToolCall]] = None
    refusal: Optional[str] = None
    audio: Optional[Dict[str, Any]] = None


class ChatCompletionChoice(Model):
    index: int = 0
    message: ChatCompletionMessage = ChatCompletionMessage()
    finish_reason: Optional[str] = None
    logprobs: Optional[Any] = None


class ChatCompletionResponse(Model):
    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: List[ChatCompletionChoice] = []
    usage: Optional[Usage] = None
    system_fingerprint: Optional[str] = None
    cost: Optional[DecimalStr] = None


class ToolCallDeltaFunction(Model):
    name: Optional[str] = None
    arguments: Optional[str] = None


class ToolCallDelta(Model):
    """A streamed tool call: a whole call or an OpenAI-style fragment keyed by ``index``."""

    index: Optional[int] = None
    id: Optional[str] = None
    type: Optional[str] = None
    function: Optional[ToolCallDeltaFunction] = None


class ChoiceDelta(Model):
    role: Optional[str] = None
    content: Optional[str] = None
    tool_calls: Optional[List[ToolCallDelta]] = None
    refusal: Optional[str] = None
    audio: Optional[Dict[str, Any]] = None


class ChatCompletionChunkChoice(Model):
    index: int = 0
    delta: Optional[ChoiceDelta] = None
    finish_reason: Optional[str] = None
    logprobs: Optional[Any] = None


class ChatCompletionChunk(Model):
    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: List[ChatCompletionChunkChoice] = []
    usage: Optional[Usage] = None
    cost: Optional[DecimalStr] = None
    system_fingerprint: Optional[str] = None
