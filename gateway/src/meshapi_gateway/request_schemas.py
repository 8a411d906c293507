"""What a request may contain: the documented limits, defined once for every endpoint.

Domain code (chat, compare, responses, embeddings, files, batches) validates against these
models and bounds, so none of it needs the HTTP layer. Unknown fields are allowed: the
request's own dict is forwarded, so fields we do not model still reach the upstream
(see docs/wire.md, "Unknown fields").
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

# Sampling bounds, as (lowest, highest) accepted values; the annotated types below use them.
TEMPERATURE_RANGE = (0, 2)
TOP_P_RANGE = (0, 1)
PENALTY_RANGE = (-2, 2)
USER_MAX_CHARS = 256

Temperature = Annotated[Optional[float], Field(ge=TEMPERATURE_RANGE[0], le=TEMPERATURE_RANGE[1])]
TopP = Annotated[Optional[float], Field(ge=TOP_P_RANGE[0], le=TOP_P_RANGE[1])]
Penalty = Annotated[Optional[float], Field(ge=PENALTY_RANGE[0], le=PENALTY_RANGE[1])]
TokenCount = Annotated[Optional[int], Field(ge=1)]
EndUser = Annotated[Optional[str], Field(max_length=USER_MAX_CHARS)]


def fallback_models(body: dict[str, Any]) -> list[Any] | None:
    """The request's ``models`` list (its fallbacks), or None when it has none or it is not a list."""
    models = body.get("models")
    return models if isinstance(models, list) else None


def model_and_fallbacks(model: Any, fallbacks: list[Any] | None) -> tuple[Any, list[Any] | None]:
    """Without a ``model``, the first of ``models`` is the model and the rest its fallbacks."""
    if not model and fallbacks:
        return fallbacks[0], fallbacks[1:]
    return model, fallbacks


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ImageURL(_Open):
    url: str
    detail: Optional[Literal["auto", "low", "high"]] = None


class ContentPart(_Open):
    type: str
    text: Optional[str] = None
    image_url: Optional[Union[ImageURL, str]] = None


class FunctionCall(_Open):
    name: Optional[str] = None
    arguments: Optional[str] = None


class ToolCall(_Open):
    id: Optional[str] = None
    type: Optional[str] = "function"
    function: FunctionCall


class Message(_Open):
    """One turn; which fields a role requires follows OpenAI's rules, so an upstream never sees a turn it refuses."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    tool_calls: Optional[list[ToolCall]] = None
    content: Optional[Union[str, list[ContentPart]]] = Field(None, validate_default=True)
    name: Optional[str] = None
    tool_call_id: Optional[str] = Field(None, validate_default=True)

    @field_validator("content")
    @classmethod
    def _content_required(cls, value: Any, info: ValidationInfo) -> Any:
        role = info.data.get("role")
        if value is None and role is not None and (role != "assistant" or not info.data.get("tool_calls")):
            raise PydanticCustomError(
                "missing", "Field required" if role != "assistant" else "Field required unless tool_calls is given"
            )
        return value

    @field_validator("tool_call_id")
    @classmethod
    def _tool_call_id_required(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.data.get("role") == "tool":
            raise PydanticCustomError("missing", "Field required")
        return value


class FunctionDef(_Open):
    name: str = Field(min_length=1, max_length=64)
    description: Optional[str] = None
    parameters: Optional[dict[str, Any]] = None


class Tool(_Open):
    type: Literal["function"] = "function"
    function: FunctionDef


class ChatRequest(_Open):
    messages: list[Message] = Field(min_length=1)
    model: Optional[str] = None
    stream: Optional[StrictBool] = None
    temperature: Temperature = None
    top_p: TopP = None
    max_tokens: TokenCount = None
    max_completion_tokens: TokenCount = None
    frequency_penalty: Penalty = None
    presence_penalty: Penalty = None
    n: Optional[int] = Field(None, ge=1, le=1)
    stop: Optional[Union[str, list[str]]] = None
    seed: Optional[int] = None
    user: EndUser = None
    tools: Optional[list[Tool]] = None
    tool_choice: Optional[Union[Literal["auto", "none", "required"], dict[str, Any]]] = None
    models: Optional[list[str]] = None
    template: Optional[str] = None
    variables: Optional[dict[str, str]] = None
    reasoning_effort: Optional[Literal["high", "medium", "low", "minimal", "none"]] = None
    stream_options: Optional[dict[str, Any]] = None


class ChatRequestWithTemplate(ChatRequest):
    """With a template, ``messages`` may be empty: the template supplies them."""

    messages: list[Message] = Field(default_factory=list)


def _number_in(low: float, high: float) -> Any:
    return lambda v: v is None or (type(v) in (int, float) and low <= v <= high)


def _count_from(low: int) -> Any:
    return lambda v: v is None or (type(v) is int and v >= low)


_PLAIN_ROLES = frozenset({"system", "developer", "user", "assistant"})
_PLAIN_FIELDS: dict[str, Any] = {
    "model": lambda v: v is None or type(v) is str,
    "stream": lambda v: v is None or type(v) is bool,
    "temperature": _number_in(*TEMPERATURE_RANGE),
    "top_p": _number_in(*TOP_P_RANGE),
    "frequency_penalty": _number_in(*PENALTY_RANGE),
    "presence_penalty": _number_in(*PENALTY_RANGE),
    "max_tokens": _count_from(1),
    "max_completion_tokens": _count_from(1),
    "seed": lambda v: v is None or type(v) is int,
    "user": lambda v: v is None or (type(v) is str and len(v) <= USER_MAX_CHARS),
    "stream_options": lambda v: v is None or type(v) is dict,
    # The response cache's switch as the 0.1.11 SDK sends it (an options object is checked the long way).
    "cache": lambda v: v is None or type(v) is bool,
}


def plainly_valid_chat(body: dict[str, Any]) -> bool:
    """True only for the everyday shape (text messages, common sampling fields) ``ChatRequest`` accepts.

    Building the pydantic model costs more than the rest of checking a request; most
    requests are this plain, and anything else (tools, content parts, an unknown field)
    answers False and is validated by ``ChatRequest`` as before, errors and all.
    """
    messages = body.get("messages")
    if type(messages) is not list or not messages:
        return False
    for m in messages:
        if type(m) is not dict or type(m.get("content")) is not str:
            return False
        role = m.get("role")
        if type(role) is not str or role not in _PLAIN_ROLES:
            return False
        if len(m) > 2 and (len(m) > 3 or type(m.get("name")) is not str):
            return False
    for key, value in body.items():
        if key == "messages":
            continue
        if key == "model":  # in every request: checked here rather than through its table entry
            if value is not None and type(value) is not str:
                return False
            continue
        # The two other fields of most requests, also without a call of their table entry each.
        if key == "stream":
            if value is not None and type(value) is not bool:
                return False
            continue
        if key == "max_tokens":
            if value is not None and (type(value) is not int or value < 1):
                return False
            continue
        check = _PLAIN_FIELDS.get(key)
        if check is None or not check(value):
            return False
    return True
