"""``client.models``: the model catalog (bare array or OpenAI list envelope)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .._base_client import APIRequest, parse_list
from ..types.models import ModelInfo
from ._base import AsyncAPIResource, SyncAPIResource
from ._shared import simple_request

__all__ = ["AsyncModels", "Models"]

_parse = parse_list(ModelInfo)


def _list(free: Optional[bool], kw: Any) -> APIRequest[List[ModelInfo]]:
    query: Optional[Dict[str, str]] = None
    if free is not None:
        query = {"free": "true" if free else "false"}
    return simple_request("GET", "/v1/models", _parse, kw, "list", query=query)


class Models(SyncAPIResource):
    def list(self, free: Optional[bool] = None, **options: Any) -> List[ModelInfo]:
        """All models; ``free=True``/``False`` filters on the server."""
        return self._t.request(_list(free, options))

    def free(self, **options: Any) -> List[ModelInfo]:
        return self._t.request(simple_request("GET", "/v1/models/free", _parse, options, "free"))

    def paid(self, **options: Any) -> List[ModelInfo]:
        return self._t.request(simple_request("GET", "/v1/models/paid", _parse, options, "paid"))


class AsyncModels(AsyncAPIResource):
    async def list(self, free: Optional[bool] = None, **options: Any) -> List[ModelInfo]:
        return await self._t.request(_list(free, options))

    async def free(self, **options: Any) -> List[ModelInfo]:
        return await self._t.request(simple_request("GET", "/v1/models/free", _parse, options, "free"))

    async def paid(self, **options: Any) -> List[ModelInfo]:
        return await self._t.request(simple_request("GET", "/v1/models/paid", _parse, options, "paid"))
