"""``client.templates``: server-stored prompt templates (control plane).

A template has a body field named ``params``, so here the positional params object is
``template`` (create) or ``changes`` (update).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from .._base_client import APIRequest, parse_json, parse_list, parse_none
from .._types import NOT_GIVEN, NotGiven
from ..types.templates import CreateTemplateParams, TemplateSummary, UpdateTemplateParams
from ._base import AsyncAPIResource, SyncAPIResource
from ._hints import suggest_keywords
from ._shared import RequestOptions, Timeout, options_of, params_request, path_id, simple_request
from .chat import MessageParam

__all__ = ["AsyncTemplates", "Templates"]

_parse = parse_json(TemplateSummary)
_parse_list = parse_list(TemplateSummary)

CreateParams = Union[CreateTemplateParams, Mapping[str, Any], None]
UpdateParams = Union[UpdateTemplateParams, Mapping[str, Any], None]
_CREATE_SKIP = frozenset({"template"})
_UPDATE_SKIP = frozenset({"template_id", "changes"})


def _create(arguments: Dict[str, Any]) -> APIRequest[TemplateSummary]:
    template = arguments["template"]
    return params_request(
        "POST", "/v1/templates", _parse, CreateTemplateParams, template, arguments, "create", skip=_CREATE_SKIP
    )


def _update(arguments: Dict[str, Any]) -> APIRequest[TemplateSummary]:
    path = f"/v1/templates/{path_id(arguments['template_id'])}"
    changes = arguments["changes"]
    return params_request("PATCH", path, _parse, UpdateTemplateParams, changes, arguments, "update", skip=_UPDATE_SKIP)


def _list(options: RequestOptions) -> APIRequest[List[TemplateSummary]]:
    return simple_request("GET", "/v1/templates", _parse_list, options)


def _get(template_id: str, options: RequestOptions) -> APIRequest[TemplateSummary]:
    return simple_request("GET", f"/v1/templates/{path_id(template_id)}", _parse, options)


def _delete(template_id: str, options: RequestOptions) -> APIRequest[None]:
    return simple_request("DELETE", f"/v1/templates/{path_id(template_id)}", parse_none, options)


class Templates(SyncAPIResource):
    @suggest_keywords
    def create(
        self,
        template: CreateParams = None,
        /,
        *,
        name: Union[str, NotGiven] = NOT_GIVEN,
        description: Union[str, NotGiven, None] = NOT_GIVEN,
        system: Union[str, NotGiven, None] = NOT_GIVEN,
        messages: Union[Sequence[MessageParam], NotGiven, None] = NOT_GIVEN,
        model: Union[str, NotGiven, None] = NOT_GIVEN,
        params: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        variables: Union[List[str], NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> TemplateSummary:
        """POST /v1/templates."""
        return self._t.request(_create(locals()))

    def list(
        self,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> List[TemplateSummary]:
        return self._t.request(_list(options_of(locals())))

    def get(
        self,
        template_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> TemplateSummary:
        return self._t.request(_get(template_id, options_of(locals())))

    @suggest_keywords
    def update(
        self,
        template_id: str,
        changes: UpdateParams = None,
        /,
        *,
        name: Union[str, NotGiven, None] = NOT_GIVEN,
        description: Union[str, NotGiven, None] = NOT_GIVEN,
        system: Union[str, NotGiven, None] = NOT_GIVEN,
        messages: Union[Sequence[MessageParam], NotGiven, None] = NOT_GIVEN,
        model: Union[str, NotGiven, None] = NOT_GIVEN,
        params: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        variables: Union[List[str], NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> TemplateSummary:
        """PATCH: only the fields you set are changed."""
        return self._t.request(_update(locals()))

    def delete(
        self,
        template_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> None:
        self._t.request(_delete(template_id, options_of(locals())))


class AsyncTemplates(AsyncAPIResource):
    @suggest_keywords
    async def create(
        self,
        template: CreateParams = None,
        /,
        *,
        name: Union[str, NotGiven] = NOT_GIVEN,
        description: Union[str, NotGiven, None] = NOT_GIVEN,
        system: Union[str, NotGiven, None] = NOT_GIVEN,
        messages: Union[Sequence[MessageParam], NotGiven, None] = NOT_GIVEN,
        model: Union[str, NotGiven, None] = NOT_GIVEN,
        params: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        variables: Union[List[str], NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> TemplateSummary:
        """POST /v1/templates."""
        return await self._t.request(_create(locals()))

    async def list(
        self,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> List[TemplateSummary]:
        return await self._t.request(_list(options_of(locals())))

    async def get(
        self,
        template_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> TemplateSummary:
        return await self._t.request(_get(template_id, options_of(locals())))

    @suggest_keywords
    async def update(
        self,
        template_id: str,
        changes: UpdateParams = None,
        /,
        *,
        name: Union[str, NotGiven, None] = NOT_GIVEN,
        description: Union[str, NotGiven, None] = NOT_GIVEN,
        system: Union[str, NotGiven, None] = NOT_GIVEN,
        messages: Union[Sequence[MessageParam], NotGiven, None] = NOT_GIVEN,
        model: Union[str, NotGiven, None] = NOT_GIVEN,
        params: Union[Mapping[str, Any], NotGiven, None] = NOT_GIVEN,
        variables: Union[List[str], NotGiven, None] = NOT_GIVEN,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> TemplateSummary:
        """PATCH: only the fields you set are changed."""
        return await self._t.request(_update(locals()))

    async def delete(
        self,
        template_id: str,
        *,
        extra_headers: Optional[Mapping[str, str]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: Timeout = None,
    ) -> None:
        await self._t.request(_delete(template_id, options_of(locals())))
