"""``client.logs``: the gateway's request log (an owner's own records; the admin token reads all)."""

from __future__ import annotations

from typing import Any, AsyncIterator, Dict, Iterator, Mapping, Optional, Union

from .._base_client import APIRequest, parse_json
from ..types.logs import RequestLog, RequestLogList
from ._base import AsyncAPIResource, SyncAPIResource
from ._shared import RequestOptions, Timeout, options_of, path_id, simple_request

__all__ = ["AsyncLogs", "Logs"]

_parse = parse_json(RequestLog)
_parse_list = parse_json(RequestLogList)

# Filters as sent: times as Unix seconds or ISO-8601 text.
Time = Union[int, float, str, None]
_FILTERS = (
    "since",
    "until",
    "key_id",
    "team_id",
    "model",
    "status",
    "error_code",
    "min_duration_ms",
    "owner",
    "limit",
    "cursor",
)


def _list(arguments: Dict[str, Any]) -> APIRequest[RequestLogList]:
    query = {name: str(arguments[name]) for name in _FILTERS if arguments.get(name) is not None}
    return simple_request("GET", "/v1/logs", _parse_list, options_of(arguments), query=query or None)


def _get(request_id: str, options: RequestOptions) -> APIRequest[RequestLog]:
    return simple_request("GET", f"/v1/logs/{path_id(request_id)}", _parse, options)


class Logs(SyncAPIResource):
    def list(
        self,
        *,
        since: Time = None,
        until: Time = None,
        key_id: Optional[str] = None,
        team_id: Optional[str] = None,
        model: Optional[str] = None,
        status: Optional[int] = None,
        error_code: Optional[str] = None,
        min_duration_ms: Optional[float] = None,
        owner: Optional[str] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> RequestLogList:
        """One page, newest first; pass ``cursor=page.next_cursor`` for the next."""
        return self._t.request(_list(locals()))

    def get(
        self,
        request_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> RequestLog:
        """One request's record, with its attempts and (when the gateway keeps them) bodies."""
        return self._t.request(_get(request_id, options_of(locals())))

    def iter_all(
        self,
        *,
        since: Time = None,
        until: Time = None,
        key_id: Optional[str] = None,
        team_id: Optional[str] = None,
        model: Optional[str] = None,
        status: Optional[int] = None,
        error_code: Optional[str] = None,
        min_duration_ms: Optional[float] = None,
        owner: Optional[str] = None,
        limit: Optional[int] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> Iterator[RequestLog]:
        """Every matching record, newest first, fetching pages of ``limit`` as needed."""
        arguments: Dict[str, Any] = dict(locals())
        while True:
            page = self._t.request(_list(arguments))
            yield from page.data
            if not page.has_more or not page.next_cursor:
                return
            arguments["cursor"] = page.next_cursor


class AsyncLogs(AsyncAPIResource):
    async def list(
        self,
        *,
        since: Time = None,
        until: Time = None,
        key_id: Optional[str] = None,
        team_id: Optional[str] = None,
        model: Optional[str] = None,
        status: Optional[int] = None,
        error_code: Optional[str] = None,
        min_duration_ms: Optional[float] = None,
        owner: Optional[str] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> RequestLogList:
        """One page, newest first; pass ``cursor=page.next_cursor`` for the next."""
        return await self._t.request(_list(locals()))

    async def get(
        self,
        request_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> RequestLog:
        """One request's record, with its attempts and (when the gateway keeps them) bodies."""
        return await self._t.request(_get(request_id, options_of(locals())))

    async def iter_all(
        self,
        *,
        since: Time = None,
        until: Time = None,
        key_id: Optional[str] = None,
        team_id: Optional[str] = None,
        model: Optional[str] = None,
        status: Optional[int] = None,
        error_code: Optional[str] = None,
        min_duration_ms: Optional[float] = None,
        owner: Optional[str] = None,
        limit: Optional[int] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> AsyncIterator[RequestLog]:
        """Every matching record, newest first, fetching pages of ``limit`` as needed."""
        arguments: Dict[str, Any] = dict(locals())
        while True:
            page = await self._t.request(_list(arguments))
            for record in page.data:
                yield record
            if not page.has_more or not page.next_cursor:
                return
            arguments["cursor"] = page.next_cursor
