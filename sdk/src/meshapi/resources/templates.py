"""``client.templates``: server-stored prompt templates (control plane)."""

from __future__ import annotations

from typing import Any, List, Mapping, Union

from .._base_client import APIRequest, parse_json, parse_list, parse_none
from ..types.templates import CreateTemplateParams, TemplateSummary, UpdateTemplateParams
from ._base import AsyncAPIResource, SyncAPIResource
from ._shared import params_request, path_id, simple_request

__all__ = ["AsyncTemplates", "Templates"]

_parse = parse_json(TemplateSummary)
_parse_list = parse_list(TemplateSummary)

CreateParams = Union[CreateTemplateParams, Mapping[str, Any], None]
UpdateParams = Union[UpdateTemplateParams, Mapping[str, Any], None]


def _create(params: CreateParams, kwargs: Any) -> APIRequest[TemplateSummary]:
    return params_request("POST", "/v1/templates", _parse, CreateTemplateParams, params, kwargs, "create")


def _update(template_id: str, params: UpdateParams, kwargs: Any) -> APIRequest[TemplateSummary]:
    return params_request(
        "PATCH", f"/v1/templates/{path_id(template_id)}", _parse, UpdateTemplateParams, params, kwargs, "update"
    )


def _list(kw: Any) -> APIRequest[List[TemplateSummary]]:
    return simple_request("GET", "/v1/templates", _parse_list, kw, "list")


def _get(template_id: str, kw: Any) -> APIRequest[TemplateSummary]:
    return simple_request("GET", f"/v1/templates/{path_id(template_id)}", _parse, kw, "get")


def _delete(template_id: str, kw: Any) -> APIRequest[None]:
    return simple_request("DELETE", f"/v1/templates/{path_id(template_id)}", parse_none, kw, "delete")


class Templates(SyncAPIResource):
    def create(self, params: CreateParams = None, /, **kwargs: Any) -> TemplateSummary:
        return self._t.request(_create(params, kwargs))

    def list(self, **options: Any) -> List[TemplateSummary]:
        return self._t.request(_list(options))

    def get(self, template_id: str, **options: Any) -> TemplateSummary:
        return self._t.request(_get(template_id, options))

    def update(self, template_id: str, params: UpdateParams = None, /, **kwargs: Any) -> TemplateSummary:
        """PATCH: only the fields you set are changed."""
        return self._t.request(_update(template_id, params, kwargs))

    def delete(self, template_id: str, **options: Any) -> None:
        self._t.request(_delete(template_id, options))


class AsyncTemplates(AsyncAPIResource):
    async def create(self, params: CreateParams = None, /, **kwargs: Any) -> TemplateSummary:
        return await self._t.request(_create(params, kwargs))

    async def list(self, **options: Any) -> List[TemplateSummary]:
        return await self._t.request(_list(options))

    async def get(self, template_id: str, **options: Any) -> TemplateSummary:
        return await self._t.request(_get(template_id, options))

    async def update(self, template_id: str, params: UpdateParams = None, /, **kwargs: Any) -> TemplateSummary:
        return await self._t.request(_update(template_id, params, kwargs))

    async def delete(self, template_id: str, **options: Any) -> None:
        await self._t.request(_delete(template_id, options))
