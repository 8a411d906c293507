"""``client.keys``: data-plane keys with limits, budgets, model allowlists, expiry and teams (control plane).

Called with an owner's control-plane token (its own keys) or the admin token (any owner's,
naming ``owner`` on creation). The key itself is in :meth:`Keys.create`'s answer only.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Union

from .._base_client import APIRequest, parse_json, parse_none
from .._types import NOT_GIVEN, NotGiven
from ..types.keys import APIKey, APIKeyList, BudgetPeriod, CreatedAPIKey
from ._base import AsyncAPIResource, SyncAPIResource
from ._control import control_body
from ._hints import suggest_keywords
from ._shared import RequestOptions, Timeout, options_of, path_id, simple_request

__all__ = ["AsyncKeys", "Keys"]

_parse = parse_json(APIKey)
_parse_created = parse_json(CreatedAPIKey)
_parse_list = parse_json(APIKeyList)

# A budget in USD: a decimal string or a Decimal (a float would not be exact).
Money = Union[str, Decimal, int]
# An expiry: RFC 3339 text (with its offset), an aware datetime, or Unix seconds.
Moment = Union[str, datetime, int]
_NONE: FrozenSet[str] = frozenset()
_KEY_ID = frozenset({"key_id"})


def _create(arguments: Dict[str, Any]) -> APIRequest[CreatedAPIKey]:
    body, options = control_body(arguments, _NONE, clear=False)
    return simple_request("POST", "/v1/keys", _parse_created, options, body=body)


def _update(arguments: Dict[str, Any]) -> APIRequest[APIKey]:
    body, options = control_body(arguments, _KEY_ID, clear=True)
    return simple_request("PATCH", f"/v1/keys/{path_id(arguments['key_id'])}", _parse, options, body=body)


def _list(owner: Optional[str], options: RequestOptions) -> APIRequest[APIKeyList]:
    return simple_request("GET", "/v1/keys", _parse_list, options, query={"owner": owner} if owner else None)


def _get(key_id: str, options: RequestOptions) -> APIRequest[APIKey]:
    return simple_request("GET", f"/v1/keys/{path_id(key_id)}", _parse, options)


def _action(key_id: str, action: str, options: RequestOptions) -> APIRequest[APIKey]:
    return simple_request("POST", f"/v1/keys/{path_id(key_id)}/{action}", _parse, options)


def _revoke(key_id: str, options: RequestOptions) -> APIRequest[None]:
    return simple_request("DELETE", f"/v1/keys/{path_id(key_id)}", parse_none, options)


class Keys(SyncAPIResource):
    @suggest_keywords
    def create(
        self,
        *,
        name: Union[str, NotGiven] = NOT_GIVEN,
        owner: Union[str, NotGiven, None] = NOT_GIVEN,
        rpm: Union[int, NotGiven, None] = NOT_GIVEN,
        rpd: Union[int, NotGiven, None] = NOT_GIVEN,
        tpm: Union[int, NotGiven, None] = NOT_GIVEN,
        budget_usd: Union[Money, NotGiven, None] = NOT_GIVEN,
        budget_period: Union[BudgetPeriod, NotGiven, None] = NOT_GIVEN,
        models: Union[List[str], NotGiven, None] = NOT_GIVEN,
        expires_at: Union[Moment, NotGiven, None] = NOT_GIVEN,
        metadata: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        team_id: Union[str, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> CreatedAPIKey:
        """POST /v1/keys; the answer's ``key`` is shown this once. ``owner``: the admin token only."""
        return self._t.request(_create(locals()))

    def list(
        self,
        *,
        owner: Optional[str] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> APIKeyList:
        """The caller's keys (the admin: every key, or ``owner``'s), with each one's spend this period."""
        return self._t.request(_list(owner, options_of(locals())))

    def get(
        self,
        key_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> APIKey:
        return self._t.request(_get(key_id, options_of(locals())))

    @suggest_keywords
    def update(
        self,
        key_id: str,
        *,
        name: Union[str, NotGiven, None] = NOT_GIVEN,
        rpm: Union[int, NotGiven, None] = NOT_GIVEN,
        rpd: Union[int, NotGiven, None] = NOT_GIVEN,
        tpm: Union[int, NotGiven, None] = NOT_GIVEN,
        budget_usd: Union[Money, NotGiven, None] = NOT_GIVEN,
        budget_period: Union[BudgetPeriod, NotGiven, None] = NOT_GIVEN,
        models: Union[List[str], NotGiven, None] = NOT_GIVEN,
        expires_at: Union[Moment, NotGiven, None] = NOT_GIVEN,
        metadata: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        team_id: Union[str, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> APIKey:
        """PATCH: only the fields given change; ``None`` removes that limit or term."""
        return self._t.request(_update(locals()))

    def suspend(
        self,
        key_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> APIKey:
        """The key's requests get 403 until :meth:`resume`."""
        return self._t.request(_action(key_id, "suspend", options_of(locals())))

    def resume(
        self,
        key_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> APIKey:
        return self._t.request(_action(key_id, "resume", options_of(locals())))

    def revoke(
        self,
        key_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> None:
        """For good (unlike a suspension); revoking a revoked key changes nothing."""
        return self._t.request(_revoke(key_id, options_of(locals())))


class AsyncKeys(AsyncAPIResource):
    @suggest_keywords
    async def create(
        self,
        *,
        name: Union[str, NotGiven] = NOT_GIVEN,
        owner: Union[str, NotGiven, None] = NOT_GIVEN,
        rpm: Union[int, NotGiven, None] = NOT_GIVEN,
        rpd: Union[int, NotGiven, None] = NOT_GIVEN,
        tpm: Union[int, NotGiven, None] = NOT_GIVEN,
        budget_usd: Union[Money, NotGiven, None] = NOT_GIVEN,
        budget_period: Union[BudgetPeriod, NotGiven, None] = NOT_GIVEN,
        models: Union[List[str], NotGiven, None] = NOT_GIVEN,
        expires_at: Union[Moment, NotGiven, None] = NOT_GIVEN,
        metadata: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        team_id: Union[str, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> CreatedAPIKey:
        """POST /v1/keys; the answer's ``key`` is shown this once. ``owner``: the admin token only."""
        return await self._t.request(_create(locals()))

    async def list(
        self,
        *,
        owner: Optional[str] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> APIKeyList:
        """The caller's keys (the admin: every key, or ``owner``'s), with each one's spend this period."""
        return await self._t.request(_list(owner, options_of(locals())))

    async def get(
        self,
        key_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> APIKey:
        return await self._t.request(_get(key_id, options_of(locals())))

    @suggest_keywords
    async def update(
        self,
        key_id: str,
        *,
        name: Union[str, NotGiven, None] = NOT_GIVEN,
        rpm: Union[int, NotGiven, None] = NOT_GIVEN,
        rpd: Union[int, NotGiven, None] = NOT_GIVEN,
        tpm: Union[int, NotGiven, None] = NOT_GIVEN,
        budget_usd: Union[Money, NotGiven, None] = NOT_GIVEN,
        budget_period: Union[BudgetPeriod, NotGiven, None] = NOT_GIVEN,
        models: Union[List[str], NotGiven, None] = NOT_GIVEN,
        expires_at: Union[Moment, NotGiven, None] = NOT_GIVEN,
        metadata: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        team_id: Union[str, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> APIKey:
        """PATCH: only the fields given change; ``None`` removes that limit or term."""
        return await self._t.request(_update(locals()))

    async def suspend(
        self,
        key_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> APIKey:
        """The key's requests get 403 until :meth:`resume`."""
        return await self._t.request(_action(key_id, "suspend", options_of(locals())))

    async def resume(
        self,
        key_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> APIKey:
        return await self._t.request(_action(key_id, "resume", options_of(locals())))

    async def revoke(
        self,
        key_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> None:
        """For good (unlike a suspension); revoking a revoked key changes nothing."""
        return await self._t.request(_revoke(key_id, options_of(locals())))
