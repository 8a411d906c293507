"""``client.batches``: asynchronous bulk inference jobs."""

from __future__ import annotations

from typing import Any, AsyncIterator, Dict, Iterator, Mapping, Optional, Union

from .._base_client import APIRequest, parse_json
from ..types.batches import BatchList, BatchObject, CreateBatchParams
from ._base import AsyncAPIResource, SyncAPIResource
from ._shared import params_request, path_id, simple_request

__all__ = ["AsyncBatches", "Batches"]

_parse = parse_json(BatchObject)
_parse_list = parse_json(BatchList)

Params = Union[CreateBatchParams, Mapping[str, Any], None]


def _create(params: Params, kwargs: Any) -> APIRequest[BatchObject]:
    return params_request("POST", "/v1/batches", _parse, CreateBatchParams, params, kwargs, "create")


def _get(batch_id: str, kw: Any) -> APIRequest[BatchObject]:
    return simple_request("GET", f"/v1/batches/{path_id(batch_id)}", _parse, kw, "get")


def _list(after: Optional[str], limit: Optional[int], kw: Any) -> APIRequest[BatchList]:
    query: Dict[str, str] = {}
    if after is not None:
        query["after"] = after
    if limit is not None:
        query["limit"] = str(limit)
    return simple_request("GET", "/v1/batches", _parse_list, kw, "list", query=query or None)


def _cancel(batch_id: str, kw: Any) -> APIRequest[BatchObject]:
    return simple_request("POST", f"/v1/batches/{path_id(batch_id)}/cancel", _parse, kw, "cancel", body=b"{}")


class Batches(SyncAPIResource):
    def create(self, params: Params = None, /, **kwargs: Any) -> BatchObject:
        """POST /v1/batches from an uploaded input file."""
        return self._t.request(_create(params, kwargs))

    def get(self, batch_id: str, **options: Any) -> BatchObject:
        return self._t.request(_get(batch_id, options))

    def list(self, after: Optional[str] = None, limit: Optional[int] = None, **options: Any) -> BatchList:
        """One page, newest first; pass ``after=page.last_id`` for the next."""
        return self._t.request(_list(after, limit, options))

    def cancel(self, batch_id: str, **options: Any) -> BatchObject:
        return self._t.request(_cancel(batch_id, options))

    def iter_all(self, limit: Optional[int] = None, **options: Any) -> Iterator[BatchObject]:
        """Every batch, newest first, fetching pages of ``limit`` as needed."""
        after: Optional[str] = None
        while True:
            page = self._t.request(_list(after, limit, dict(options)))
            yield from page.data
            if not page.has_more or not page.data:
                return
            after = page.last_id or page.data[-1].id


class AsyncBatches(AsyncAPIResource):
    async def create(self, params: Params = None, /, **kwargs: Any) -> BatchObject:
        return await self._t.request(_create(params, kwargs))

    async def get(self, batch_id: str, **options: Any) -> BatchObject:
        return await self._t.request(_get(batch_id, options))

    async def list(self, after: Optional[str] = None, limit: Optional[int] = None, **options: Any) -> BatchList:
        return await self._t.request(_list(after, limit, options))

    async def cancel(self, batch_id: str, **options: Any) -> BatchObject:
        return await self._t.request(_cancel(batch_id, options))

    async def iter_all(self, limit: Optional[int] = None, **options: Any) -> AsyncIterator[BatchObject]:
        """Every batch, newest first, fetching pages of ``limit`` as needed."""
        after: Optional[str] = None
        while True:
            page = await self._t.request(_list(after, limit, dict(options)))
            for batch in page.data:
                yield batch
            if not page.has_more or not page.data:
                return
            after = page.last_id or page.data[-1].id
