"""``client.usage``: the caller's billed usage, row by row, summed per group, or as an incremental feed.

Each read includes the gateway's latest bills (it writes them before answering).
Times are Unix seconds or ISO-8601 text (``datetime`` objects are sent as ISO-8601).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Dict, Mapping, Optional, Union

from .._base_client import APIRequest, parse_json
from ..types.usage import UsageEvents, UsageGroupBy, UsageGroups, UsageList
from ._base import AsyncAPIResource, SyncAPIResource
from ._shared import Timeout, options_of, simple_request

__all__ = ["AsyncUsage", "Usage"]

_parse_list = parse_json(UsageList)
_parse_groups = parse_json(UsageGroups)
_parse_events = parse_json(UsageEvents)

Time = Union[int, float, str, datetime, None]
_FILTERS = ("since", "until", "model", "key_id", "team_id", "request_id", "kind", "limit", "group_by")


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _query(arguments: Dict[str, Any]) -> Optional[Dict[str, str]]:
    query = {name: _text(arguments[name]) for name in _FILTERS if arguments.get(name) is not None}
    return query or None


def _list(arguments: Dict[str, Any]) -> APIRequest[UsageList]:
    return simple_request("GET", "/v1/usage", _parse_list, options_of(arguments), query=_query(arguments))


def _grouped(arguments: Dict[str, Any]) -> APIRequest[UsageGroups]:
    return simple_request("GET", "/v1/usage", _parse_groups, options_of(arguments), query=_query(arguments))


def _events(arguments: Dict[str, Any]) -> APIRequest[UsageEvents]:
    body: Dict[str, Any] = {"limit": arguments["limit"]}
    if arguments.get("since") is not None:
        body["since"] = _text(arguments["since"]) if isinstance(arguments["since"], datetime) else arguments["since"]
    encoded = json.dumps(body, separators=(",", ":")).encode()
    return simple_request("POST", "/v1/usage/events", _parse_events, options_of(arguments), body=encoded)


class Usage(SyncAPIResource):
    def list(
        self,
        *,
        since: Time = None,
        until: Time = None,
        model: Optional[str] = None,
        key_id: Optional[str] = None,
        team_id: Optional[str] = None,
        request_id: Optional[str] = None,
        kind: Optional[str] = None,
        limit: Optional[int] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> UsageList:
        """Usage rows, newest first, with the count and cost of every matching row."""
        return self._t.request(_list(locals()))

    def grouped(
        self,
        *,
        group_by: UsageGroupBy,
        since: Time = None,
        until: Time = None,
        model: Optional[str] = None,
        key_id: Optional[str] = None,
        team_id: Optional[str] = None,
        kind: Optional[str] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> UsageGroups:
        """Sums per key, team, model or UTC day over the time range (largest cost first; days oldest first)."""
        return self._t.request(_grouped(locals()))

    def events(
        self,
        *,
        since: Time = None,
        limit: int = 200,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> UsageEvents:
        """Usage rows from ``since``, oldest first (an incremental feed)."""
        return self._t.request(_events(locals()))


class AsyncUsage(AsyncAPIResource):
    async def list(
        self,
        *,
        since: Time = None,
        until: Time = None,
        model: Optional[str] = None,
        key_id: Optional[str] = None,
        team_id: Optional[str] = None,
        request_id: Optional[str] = None,
        kind: Optional[str] = None,
        limit: Optional[int] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> UsageList:
        """Usage rows, newest first, with the count and cost of every matching row."""
        return await self._t.request(_list(locals()))

    async def grouped(
        self,
        *,
        group_by: UsageGroupBy,
        since: Time = None,
        until: Time = None,
        model: Optional[str] = None,
        key_id: Optional[str] = None,
        team_id: Optional[str] = None,
        kind: Optional[str] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> UsageGroups:
        """Sums per key, team, model or UTC day over the time range (largest cost first; days oldest first)."""
        return await self._t.request(_grouped(locals()))

    async def events(
        self,
        *,
        since: Time = None,
        limit: int = 200,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> UsageEvents:
        """Usage rows from ``since``, oldest first (an incremental feed)."""
        return await self._t.request(_events(locals()))
