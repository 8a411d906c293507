"""``client.embeddings``: OpenAI-compatible embeddings."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from .._base_client import APIRequest, parse_json
from .._types import NOT_GIVEN, NotGiven
from ..types.embeddings import EmbeddingsParams, EmbeddingsResponse
from ._base import AsyncAPIResource, SyncAPIResource
from ._hints import suggest_keywords
from ._shared import Timeout, params_request

__all__ = ["AsyncEmbeddings", "Embeddings"]

_parse = parse_json(EmbeddingsResponse)

Params = Union[EmbeddingsParams, Mapping[str, Any], None]
# Text, texts, token ids, lists of token ids, or multimodal input objects.
Input = Union[str, List[str], List[int], List[List[int]], Sequence[Mapping[str, Any]]]


def _request(arguments: Dict[str, Any]) -> APIRequest[EmbeddingsResponse]:
    params = arguments["params"]
    return params_request("POST", "/v1/embeddings", _parse, EmbeddingsParams, params, arguments, "create")


class Embeddings(SyncAPIResource):
    @suggest_keywords
    def create(
        self,
        params: Params = None,
        /,
        *,
        input: Union[Input, NotGiven] = NOT_GIVEN,
        model: Union[str, NotGiven, None] = NOT_GIVEN,
        dimensions: Union[int, NotGiven, None] = NOT_GIVEN,
        encoding_format: Union[str, NotGiven, None] = NOT_GIVEN,
        input_type: Union[str, NotGiven, None] = NOT_GIVEN,
        instructions: Union[str, NotGiven, None] = NOT_GIVEN,
        provider: Union[str, Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        user: Union[str, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> EmbeddingsResponse:
        """POST /v1/embeddings."""
        return self._t.request(_request(locals()))


class AsyncEmbeddings(AsyncAPIResource):
    @suggest_keywords
    async def create(
        self,
        params: Params = None,
        /,
        *,
        input: Union[Input, NotGiven] = NOT_GIVEN,
        model: Union[str, NotGiven, None] = NOT_GIVEN,
        dimensions: Union[int, NotGiven, None] = NOT_GIVEN,
        encoding_format: Union[str, NotGiven, None] = NOT_GIVEN,
        input_type: Union[str, NotGiven, None] = NOT_GIVEN,
        instructions: Union[str, NotGiven, None] = NOT_GIVEN,
        provider: Union[str, Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        user: Union[str, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> EmbeddingsResponse:
        """POST /v1/embeddings."""
        return await self._t.request(_request(locals()))
