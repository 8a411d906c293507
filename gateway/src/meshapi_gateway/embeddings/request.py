"""Checking an embeddings request before any model is called (docs/wire.md, Embeddings).

Every problem is a 422 naming the field, in pydantic's detail shape, so clients see the
same kind of error as for chat.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from meshapi_gateway.catalog.catalog import ModelEntry
from meshapi_gateway.errors import GatewayError, field_error
from meshapi_gateway.request_schemas import EndUser

# OpenAI's own limit on inputs per request.
MAX_INPUTS = 2048


class EmbeddingsRequest(BaseModel):
    """The documented limits; unknown fields are allowed and reach OpenAI-compatible upstreams."""

    model_config = ConfigDict(extra="allow")

    input: Any
    model: Optional[str] = None
    models: Optional[list[str]] = None
    dimensions: Optional[int] = Field(None, ge=1)
    encoding_format: Optional[Literal["float", "base64"]] = None
    input_type: Optional[str] = None
    user: EndUser = None
    provider: Optional[Union[str, dict[str, Any]]] = None


def _is_token_array(value: Any) -> bool:
    return (
        isinstance(value, list) and bool(value) and all(isinstance(t, int) and not isinstance(t, bool) for t in value)
    )


def normalize_input(value: Any) -> str | list[str] | list[int] | list[list[int]]:
    """The ``input`` as OpenAI accepts it; text parts of multimodal items become strings."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list) or not value:
        raise field_error(
            "input", "Input must be a non-empty string, list of strings or token arrays", type_="value_error"
        )
    if _is_token_array(value):
        return value
    if len(value) > MAX_INPUTS:
        raise field_error("input", f"At most {MAX_INPUTS} inputs per request", type_="too_long")
    out: list[Any] = []
    for item in value:
        if isinstance(item, str) or _is_token_array(item):
            out.append(item)
        elif isinstance(item, dict) and item.get("type") == "text" and isinstance(item.get("text"), str):
            out.append(item["text"])
        elif isinstance(item, dict) and item.get("type") in ("image_url", "video_url"):
            raise GatewayError(
                "model_capability_not_supported", "Image and video inputs are not supported by this embeddings model."
            )
        else:
            raise field_error(
                "input", "Each input must be a string or a non-empty array of token ids", type_="value_error"
            )
    kinds = {isinstance(x, str) for x in out}
    if len(kinds) > 1:
        raise field_error("input", "Do not mix strings and token arrays in one request", type_="value_error")
    return out


def check_capability(entry: ModelEntry) -> None:
    if entry.model_type != "embedding":
        raise GatewayError(
            "model_capability_not_supported",
            f"Model '{entry.id}' does not serve embeddings; choose an embedding model.",
        )


def check_dimensions(entry: ModelEntry, dimensions: int | None) -> None:
    """``dimensions`` only where the model can shorten its vectors; a fixed-size model takes its own size."""
    if dimensions is None:
        return
    native = entry.embedding_dimensions
    fixed = entry.provider == "local_embeddings"
    if fixed and dimensions != native:
        raise field_error(
            "dimensions",
            f"Model '{entry.id}' always returns {native} dimensions; omit 'dimensions' or send that value",
            value=dimensions,
        )
    if native is not None and dimensions > native:
        raise field_error(
            "dimensions",
            f"Model '{entry.id}' returns at most {native} dimensions",
            type_="less_than_equal",
            value=dimensions,
        )
