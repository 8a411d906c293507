"""``client.embeddings``: OpenAI-compatible embeddings."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Union

from .._base_client import APIRequest, parse_json
from ..types.embeddings import EmbeddingsParams, EmbeddingsResponse
from ._base import AsyncAPIResource, SyncAPIResource
from ._shared import build, coerce_params, encode, split_options

__all__ = ["AsyncEmbeddings", "Embeddings"]

_parse = parse_json(EmbeddingsResponse)

Params = Union[EmbeddingsParams, Mapping[str, Any], None]


def _request(params: Params, kwargs: Dict[str, Any]) -> APIRequest[EmbeddingsResponse]:
    options = split_options(kwargs)
    model = coerce_params(EmbeddingsParams, params, kwargs, "create")
    return build(
        "POST",
        "/v1/embeddings",
        _parse,
        options,
        body=encode(model, options),
    )


class Embeddings(SyncAPIResource):
    def create(self, params: Params = None, /, **kwargs: Any) -> EmbeddingsResponse:
        """POST /v1/embeddings."""
        return self._t.request(_request(params, kwargs))


class AsyncEmbeddings(AsyncAPIResource):
    async def create(self, params: Params = None, /, **kwargs: Any) -> EmbeddingsResponse:
        return await self._t.request(_request(params, kwargs))
