"""``client.models``: the model catalog (bare array or OpenAI list envelope)."""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional, Sequence
from urllib.parse import quote

from .._base_client import APIRequest, parse_json, parse_list
from ..types.models import ModelInfo, ModelsPage
from ._base import AsyncAPIResource, SyncAPIResource
from ._shared import simple_request

__all__ = ["AsyncModels", "Models"]

_parse = parse_list(ModelInfo)
_parse_one = parse_json(ModelInfo)
_parse_page = parse_json(ModelsPage)

Sort = Literal["brand", "name", "id", "context_length"]


def _list(free: Optional[bool], kw: Any) -> APIRequest[List[ModelInfo]]:
    query: Optional[Dict[str, str]] = None
    if free is not None:
        query = {"free": "true" if free else "false"}
    return simple_request("GET", "/v1/models", _parse, kw, "list", query=query)


def _get(model_id: str, kw: Any) -> APIRequest[ModelInfo]:
    if not isinstance(model_id, str) or not model_id:
        raise ValueError(f"Expected a non-empty model id, got {model_id!r}")
    # The "/" of "vendor/model" ids stays: the route takes the rest of the path as the id.
    return simple_request("GET", f"/v1/models/{quote(model_id, safe='/')}", _parse_one, kw, "get")


def _search(filters: Dict[str, Any], kw: Any) -> APIRequest[ModelsPage]:
    query: Dict[str, str] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if isinstance(value, bool):
            query[name] = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            query[name] = ",".join(str(v) for v in value)
        else:
            query[name] = str(value)
    return simple_request("GET", "/v1/models/search", _parse_page, kw, "search", query=query or None)


class Models(SyncAPIResource):
    def list(self, free: Optional[bool] = None, **options: Any) -> List[ModelInfo]:
        """All models; ``free=True``/``False`` filters on the server."""
        return self._t.request(_list(free, options))

    def free(self, **options: Any) -> List[ModelInfo]:
        return self._t.request(simple_request("GET", "/v1/models/free", _parse, options, "free"))

    def paid(self, **options: Any) -> List[ModelInfo]:
        return self._t.request(simple_request("GET", "/v1/models/paid", _parse, options, "paid"))

    def get(self, model_id: str, **options: Any) -> ModelInfo:
        """One model; ``NotFoundError`` (``model_not_found``) when the gateway has no such id."""
        return self._t.request(_get(model_id, options))

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
        **options: Any,
    ) -> ModelsPage:
        """One page of the catalog matching text and filters (every listed modality; any listed brand)."""
        filters = {"q": q, "free": free, "discounted": discounted, "input_modality": input_modality,
                   "output_modality": output_modality, "brand": brand, "sort": sort, "order": order,
                   "limit": limit, "offset": offset}
        return self._t.request(_search(filters, options))


class AsyncModels(AsyncAPIResource):
    async def list(self, free: Optional[bool] = None, **options: Any) -> List[ModelInfo]:
        return await self._t.request(_list(free, options))

    async def free(self, **options: Any) -> List[ModelInfo]:
        return await self._t.request(simple_request("GET", "/v1/models/free", _parse, options, "free"))

    async def paid(self, **options: Any) -> List[ModelInfo]:
        return await self._t.request(simple_request("GET", "/v1/models/paid", _parse, options, "paid"))

    async def get(self, model_id: str, **options: Any) -> ModelInfo:
        return await self._t.request(_get(model_id, options))

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
        **options: Any,
    ) -> ModelsPage:
        filters = {"q": q, "free": free, "discounted": discounted, "input_modality": input_modality,
                   "output_modality": output_modality, "brand": brand, "sort": sort, "order": order,
                   "limit": limit, "offset": offset}
        return await self._t.request(_search(filters, options))
