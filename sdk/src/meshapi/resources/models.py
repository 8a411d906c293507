"""``client.models``: the model catalog (bare array or OpenAI list envelope)."""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence
from urllib.parse import quote

from .._base_client import APIRequest, parse_json, parse_list
from ..types.models import ModelInfo, ModelsPage
from ._base import AsyncAPIResource, SyncAPIResource
from ._shared import RequestOptions, Timeout, options_of, simple_request

__all__ = ["AsyncModels", "Models"]

_parse = parse_list(ModelInfo)
_parse_one = parse_json(ModelInfo)
_parse_page = parse_json(ModelsPage)

Sort = Literal["brand", "name", "id", "context_length"]
_NOT_FILTERS = frozenset({"self", "extra_headers", "extra_query", "extra_body", "timeout"})


def _list(free: Optional[bool], options: RequestOptions) -> APIRequest[List[ModelInfo]]:
    query: Optional[Dict[str, str]] = None
    if free is not None:
        query = {"free": "true" if free else "false"}
    return simple_request("GET", "/v1/models", _parse, options, query=query)


def _get(model_id: str, options: RequestOptions) -> APIRequest[ModelInfo]:
    if not isinstance(model_id, str) or not model_id:
        raise ValueError(f"Expected a non-empty model id, got {model_id!r}")
    # The "/" of "vendor/model" ids stays: the route takes the rest of the path as the id.
    return simple_request("GET", f"/v1/models/{quote(model_id, safe='/')}", _parse_one, options)


def _search(arguments: Dict[str, Any]) -> APIRequest[ModelsPage]:
    """The request of ``search()`` from its ``locals()`` (every argument but the options is a filter)."""
    query: Dict[str, str] = {}
    for name, value in arguments.items():
        if value is None or name in _NOT_FILTERS:
            continue
        if isinstance(value, bool):
            query[name] = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            query[name] = ",".join(str(v) for v in value)
        else:
            query[name] = str(value)
    return simple_request("GET", "/v1/models/search", _parse_page, options_of(arguments), query=query or None)


class Models(SyncAPIResource):
    def list(
        self,
        free: Optional[bool] = None,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> List[ModelInfo]:
        """All models; ``free=True``/``False`` filters on the server."""
        return self._t.request(_list(free, options_of(locals())))

    def free(
        self,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> List[ModelInfo]:
        return self._t.request(simple_request("GET", "/v1/models/free", _parse, options_of(locals())))

    def paid(
        self,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> List[ModelInfo]:
        return self._t.request(simple_request("GET", "/v1/models/paid", _parse, options_of(locals())))

    def get(
        self,
        model_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> ModelInfo:
        """One model; ``NotFoundError`` (``model_not_found``) when the gateway has no such id."""
        return self._t.request(_get(model_id, options_of(locals())))

    def search(
        self,
        *,
        q: Optional[str] = None,
        free: Optional[bool] = None,
        discounted: Optional[bool] = None,
        input_modality: Optional[Sequence[str]] = None,
        output_modality: Optional[Sequence[str]] = None,
        brand: Optional[Sequence[str]] = None,
        sort: Optional[Sort] = None,
        order: Optional[Literal["asc", "desc"]] = None,
        limit: Optional[int] = None,
        offset: Optional[int] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> ModelsPage:
        """One page of the catalog matching text and filters (every listed modality; any listed brand)."""
        return self._t.request(_search(locals()))


class AsyncModels(AsyncAPIResource):
    async def list(
        self,
        free: Optional[bool] = None,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> List[ModelInfo]:
        return await self._t.request(_list(free, options_of(locals())))

    async def free(
        self,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> List[ModelInfo]:
        return await self._t.request(simple_request("GET", "/v1/models/free", _parse, options_of(locals())))

    async def paid(
        self,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> List[ModelInfo]:
        return await self._t.request(simple_request("GET", "/v1/models/paid", _parse, options_of(locals())))

    async def get(
        self,
        model_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> ModelInfo:
        return await self._t.request(_get(model_id, options_of(locals())))

    async def search(
        self,
        *,
        q: Optional[str] = None,
        free: Optional[bool] = None,
        discounted: Optional[bool] = None,
        input_modality: Optional[Sequence[str]] = None,
        output_modality: Optional[Sequence[str]] = None,
        brand: Optional[Sequence[str]] = None,
        sort: Optional[Sort] = None,
        order: Optional[Literal["asc", "desc"]] = None,
        limit: Optional[int] = None,
        offset: Optional[int] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> ModelsPage:
        return await self._t.request(_search(locals()))
