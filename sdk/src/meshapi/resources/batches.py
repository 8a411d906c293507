"""``client.batches``: asynchronous bulk inference jobs."""

from __future__ import annotations

from typing import Any, AsyncIterator, Dict, Iterator, Mapping, Optional, Union

from .._base_client import APIRequest, parse_json
from .._types import NOT_GIVEN, NotGiven
from ..types.batches import BatchList, BatchObject, CreateBatchParams
from ._base import AsyncAPIResource, SyncAPIResource
from ._hints import suggest_keywords
from ._shared import RequestOptions, Timeout, options_of, params_request, path_id, simple_request

__all__ = ["AsyncBatches", "Batches"]

_parse = parse_json(BatchObject)
_parse_list = parse_json(BatchList)

Params = Union[CreateBatchParams, Mapping[str, Any], None]


def _create(arguments: Dict[str, Any]) -> APIRequest[BatchObject]:
    params = arguments["params"]
    return params_request("POST", "/v1/batches", _parse, CreateBatchParams, params, arguments, "create")


def _get(batch_id: str, options: RequestOptions) -> APIRequest[BatchObject]:
    return simple_request("GET", f"/v1/batches/{path_id(batch_id)}", _parse, options)


def _list(after: Optional[str], limit: Optional[int], options: RequestOptions) -> APIRequest[BatchList]:
    query: Dict[str, str] = {}
    if after is not None:
        query["after"] = after
    if limit is not None:
        query["limit"] = str(limit)
    return simple_request("GET", "/v1/batches", _parse_list, options, query=query or None)


def _cancel(batch_id: str, options: RequestOptions) -> APIRequest[BatchObject]:
    return simple_request("POST", f"/v1/batches/{path_id(batch_id)}/cancel", _parse, options, body=b"{}")


class Batches(SyncAPIResource):
    @suggest_keywords
    def create(
        self,
        params: Params = None,
        /,
        *,
        input_file_id: Union[str, NotGiven] = NOT_GIVEN,
        endpoint: Union[str, NotGiven] = NOT_GIVEN,
        completion_window: Union[str, NotGiven] = NOT_GIVEN,
        metadata: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> BatchObject:
        """POST /v1/batches from an uploaded input file."""
        return self._t.request(_create(locals()))

    def get(
        self,
        batch_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> BatchObject:
        return self._t.request(_get(batch_id, options_of(locals())))

    def list(
        self,
        after: Optional[str] = None,
        limit: Optional[int] = None,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> BatchList:
        """One page, newest first; pass ``after=page.last_id`` for the next."""
        return self._t.request(_list(after, limit, options_of(locals())))

    def cancel(
        self,
        batch_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> BatchObject:
        return self._t.request(_cancel(batch_id, options_of(locals())))

    def iter_all(
        self,
        limit: Optional[int] = None,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> Iterator[BatchObject]:
        """Every batch, newest first, fetching pages of ``limit`` as needed."""
        options = options_of(locals())
        after: Optional[str] = None
        while True:
            page = self._t.request(_list(after, limit, options))
            yield from page.data
            if not page.has_more or not page.data:
                return
            after = page.last_id or page.data[-1].id


class AsyncBatches(AsyncAPIResource):
    @suggest_keywords
    async def create(
        self,
        params: Params = None,
        /,
        *,
        input_file_id: Union[str, NotGiven] = NOT_GIVEN,
        endpoint: Union[str, NotGiven] = NOT_GIVEN,
        completion_window: Union[str, NotGiven] = NOT_GIVEN,
        metadata: Union[Mapping[str, str], NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> BatchObject:
        """POST /v1/batches from an uploaded input file."""
        return await self._t.request(_create(locals()))

    async def get(
        self,
        batch_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> BatchObject:
        return await self._t.request(_get(batch_id, options_of(locals())))

    async def list(
        self,
        after: Optional[str] = None,
        limit: Optional[int] = None,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> BatchList:
        """One page, newest first; pass ``after=page.last_id`` for the next."""
        return await self._t.request(_list(after, limit, options_of(locals())))

    async def cancel(
        self,
        batch_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> BatchObject:
        return await self._t.request(_cancel(batch_id, options_of(locals())))

    async def iter_all(
        self,
        limit: Optional[int] = None,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> AsyncIterator[BatchObject]:
        """Every batch, newest first, fetching pages of ``limit`` as needed."""
        options = options_of(locals())
        after: Optional[str] = None
        while True:
            page = await self._t.request(_list(after, limit, options))
            for batch in page.data:
                yield batch
            if not page.has_more or not page.data:
                return
            after = page.last_id or page.data[-1].id
