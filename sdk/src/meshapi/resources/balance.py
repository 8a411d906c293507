"""``client.balance``: what the caller may still spend (``available_usd``) and has spent."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from .._base_client import APIRequest, parse_json
from ..types.usage import Balance as BalanceObject
from ._base import AsyncAPIResource, SyncAPIResource
from ._shared import RequestOptions, Timeout, options_of, simple_request

__all__ = ["AsyncBalance", "Balance"]

_parse = parse_json(BalanceObject)


def _get(options: RequestOptions) -> APIRequest[BalanceObject]:
    return simple_request("GET", "/v1/balance", _parse, options)


class Balance(SyncAPIResource):
    def get(
        self,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> BalanceObject:
        """GET /v1/balance: money as decimal strings (``Decimal(balance.available_usd)``)."""
        return self._t.request(_get(options_of(locals())))


class AsyncBalance(AsyncAPIResource):
    async def get(
        self,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> BalanceObject:
        """GET /v1/balance: money as decimal strings (``Decimal(balance.available_usd)``)."""
        return await self._t.request(_get(options_of(locals())))
