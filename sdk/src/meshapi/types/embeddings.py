"""Embeddings types (docs/wire.md, Embeddings)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

from .._models import Model, RequestParams

__all__ = ["Embedding", "EmbeddingsParams", "EmbeddingsResponse", "EmbeddingsUsage"]


class EmbeddingsParams(RequestParams):
    input: Union[str, List[str], List[int], List[List[int]], List[Dict[str, Any]]]
    model: Optional[str] = None
    dimensions: Optional[int] = None
    encoding_format: Optional[str] = None
    input_type: Optional[str] = None
    instructions: Optional[str] = None
    provider: Optional[Union[str, Dict[str, Any]]] = None
    user: Optional[str] = None


class Embedding(Model):
    object: str = "embedding"
    index: int = 0
    # A list of floats, or a base64 string when ``encoding_format="base64"``.
    embedding: Union[List[float], str] = []


class EmbeddingsUsage(Model):
    prompt_tokens: Optional[int] = None
    total_tokens: Optional[int] = None


class EmbeddingsResponse(Model):
    object: str = "list"
    data: List[Embedding] = []
    model: str = ""
    usage: Optional[EmbeddingsUsage] = None
