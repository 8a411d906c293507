"""``client.teams``: teams of owners with a shared budget, model allowlist and rate limits.

The admin token creates, changes and deletes teams; a member reads the teams it belongs to.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Union

from .._base_client import APIRequest, parse_json, parse_none
from .._types import NOT_GIVEN, NotGiven
from ..types.keys import BudgetPeriod
from ..types.teams import Team, TeamList, TeamRole
from ._base import AsyncAPIResource, SyncAPIResource
from ._control import control_body
from ._hints import suggest_keywords
from ._shared import RequestOptions, Timeout, options_of, path_id, simple_request

__all__ = ["AsyncTeams", "Teams"]

_parse = parse_json(Team)
_parse_list = parse_json(TeamList)

Money = Union[str, Decimal, int]
Members = Mapping[str, TeamRole]
_NONE: FrozenSet[str] = frozenset()
_TEAM_ID = frozenset({"team_id"})


def _create(arguments: Dict[str, Any]) -> APIRequest[Team]:
    body, options = control_body(arguments, _NONE, clear=False)
    return simple_request("POST", "/v1/teams", _parse, options, body=body)


def _update(arguments: Dict[str, Any]) -> APIRequest[Team]:
    body, options = control_body(arguments, _TEAM_ID, clear=True)
    return simple_request("PATCH", f"/v1/teams/{path_id(arguments['team_id'])}", _parse, options, body=body)


def _list(options: RequestOptions) -> APIRequest[TeamList]:
    return simple_request("GET", "/v1/teams", _parse_list, options)


def _get(team_id: str, options: RequestOptions) -> APIRequest[Team]:
    return simple_request("GET", f"/v1/teams/{path_id(team_id)}", _parse, options)


def _delete(team_id: str, options: RequestOptions) -> APIRequest[None]:
    return simple_request("DELETE", f"/v1/teams/{path_id(team_id)}", parse_none, options)


class Teams(SyncAPIResource):
    @suggest_keywords
    def create(
        self,
        *,
        name: Union[str, NotGiven, None] = NOT_GIVEN,
        members: Union[Members, NotGiven, None] = NOT_GIVEN,
        budget_usd: Union[Money, NotGiven, None] = NOT_GIVEN,
        budget_period: Union[BudgetPeriod, NotGiven, None] = NOT_GIVEN,
        models: Union[List[str], NotGiven, None] = NOT_GIVEN,
        rpm: Union[int, NotGiven, None] = NOT_GIVEN,
        tpm: Union[int, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> Team:
        """POST /v1/teams (admin token); ``members`` maps owner names to ``"admin"`` or ``"member"``."""
        return self._t.request(_create(locals()))

    def list(
        self,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> TeamList:
        """The teams the caller belongs to (the admin: every team)."""
        return self._t.request(_list(options_of(locals())))

    def get(
        self,
        team_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> Team:
        return self._t.request(_get(team_id, options_of(locals())))

    @suggest_keywords
    def update(
        self,
        team_id: str,
        *,
        name: Union[str, NotGiven, None] = NOT_GIVEN,
        members: Union[Members, NotGiven, None] = NOT_GIVEN,
        budget_usd: Union[Money, NotGiven, None] = NOT_GIVEN,
        budget_period: Union[BudgetPeriod, NotGiven, None] = NOT_GIVEN,
        models: Union[List[str], NotGiven, None] = NOT_GIVEN,
        rpm: Union[int, NotGiven, None] = NOT_GIVEN,
        tpm: Union[int, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> Team:
        """PATCH (admin token): only the fields given change; ``None`` removes that term."""
        return self._t.request(_update(locals()))

    def delete(
        self,
        team_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> None:
        return self._t.request(_delete(team_id, options_of(locals())))


class AsyncTeams(AsyncAPIResource):
    @suggest_keywords
    async def create(
        self,
        *,
        name: Union[str, NotGiven, None] = NOT_GIVEN,
        members: Union[Members, NotGiven, None] = NOT_GIVEN,
        budget_usd: Union[Money, NotGiven, None] = NOT_GIVEN,
        budget_period: Union[BudgetPeriod, NotGiven, None] = NOT_GIVEN,
        models: Union[List[str], NotGiven, None] = NOT_GIVEN,
        rpm: Union[int, NotGiven, None] = NOT_GIVEN,
        tpm: Union[int, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> Team:
        """POST /v1/teams (admin token); ``members`` maps owner names to ``"admin"`` or ``"member"``."""
        return await self._t.request(_create(locals()))

    async def list(
        self,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> TeamList:
        """The teams the caller belongs to (the admin: every team)."""
        return await self._t.request(_list(options_of(locals())))

    async def get(
        self,
        team_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> Team:
        return await self._t.request(_get(team_id, options_of(locals())))

    @suggest_keywords
    async def update(
        self,
        team_id: str,
        *,
        name: Union[str, NotGiven, None] = NOT_GIVEN,
        members: Union[Members, NotGiven, None] = NOT_GIVEN,
        budget_usd: Union[Money, NotGiven, None] = NOT_GIVEN,
        budget_period: Union[BudgetPeriod, NotGiven, None] = NOT_GIVEN,
        models: Union[List[str], NotGiven, None] = NOT_GIVEN,
        rpm: Union[int, NotGiven, None] = NOT_GIVEN,
        tpm: Union[int, NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> Team:
        """PATCH (admin token): only the fields given change; ``None`` removes that term."""
        return await self._t.request(_update(locals()))

    async def delete(
        self,
        team_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> None:
        return await self._t.request(_delete(team_id, options_of(locals())))
