"""``/v1/templates``: prompt template CRUD (docs/wire.md, Templates), JWT or rsk key of the owner.

The admin token manages global templates (``is_global``), which every owner can read
and use but not change. Foreign, unknown and non-UUID ids are all 404 ``not_found``.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from meshapi_gateway.api.common import gw, json_response, read_json_object, validate
from meshapi_gateway.api.openapi import EXTRA_PATHS, _op
from meshapi_gateway.auth.authenticate import authenticate
from meshapi_gateway.auth.principal import Principal
from meshapi_gateway.errors import GatewayError
from meshapi_gateway.templates import store
from meshapi_gateway.templates.checks import check_definition


class _TemplateMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Union[str, list[Any], None] = None


class CreateTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: Optional[str] = None
    system: Optional[str] = None
    messages: Optional[list[_TemplateMessage]] = None
    model: Optional[str] = Field(None, max_length=200)
    params: Optional[dict[str, Any]] = None
    variables: Optional[list[str]] = None


class UpdateTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Optional[str] = Field(None, min_length=1, max_length=200)
    description: Optional[str] = None
    system: Optional[str] = None
    messages: Optional[list[_TemplateMessage]] = None
    model: Optional[str] = Field(None, max_length=200)
    params: Optional[dict[str, Any]] = None
    variables: Optional[list[str]] = None


EXTRA_PATHS.update({
    "/v1/templates": {"post": _op("Create a prompt template (201; 409 on a duplicate name)",
                                  CreateTemplate.model_json_schema(), status=201),
                      "get": _op("List the owner's and the global templates (bare array, newest first)")},
    "/v1/templates/{template_id}": {"get": _op("Get a template"),
                                    "patch": _op("Change a template's given fields",
                                                 UpdateTemplate.model_json_schema()),
                                    "delete": _op("Delete a template (204)", status=204)},
})


def _owner(principal: Principal) -> str:
    """Whose templates a caller manages: its own, or the global ones for the admin."""
    if principal.realm == "admin":
        return store.GLOBAL
    if principal.owner == store.GLOBAL:  # an empty owner name must not reach the global templates
        raise GatewayError("forbidden", "This credential has no owner.")
    return principal.owner


def _fields(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_unset=True, exclude={"name"})


async def _caller(request: Request) -> Principal:
    return await authenticate(gw(request), request.headers.get("authorization"), "any")


def _changed(request: Request) -> None:
    cache = gw(request).services.get("templates")
    if cache is not None:
        cache.invalidate()


async def create_template(request: Request) -> Response:
    principal = await _caller(request)
    body = await read_json_object(request)
    params = validate(CreateTemplate, body)
    assert isinstance(params, CreateTemplate)
    check_definition(body.get("params"), body.get("messages"))
    async with gw(request).sessions() as session:
        template = await store.create(session, _owner(principal), params.name, _fields(params))
    _changed(request)
    return json_response(store.view(template), status=201)


async def list_templates(request: Request) -> Response:
    principal = await _caller(request)
    async with gw(request).sessions() as session:
        templates = await store.list_visible(session, _owner(principal))
    return json_response([store.view(t) for t in templates])


async def get_template(request: Request) -> Response:
    principal = await _caller(request)
    async with gw(request).sessions() as session:
        template = await store.get_visible(session, _owner(principal), request.path_params["template_id"])
    return json_response(store.view(template))


async def update_template(request: Request) -> Response:
    principal = await _caller(request)
    body = await read_json_object(request)
    params = validate(UpdateTemplate, body)
    assert isinstance(params, UpdateTemplate)
    check_definition(body.get("params"), body.get("messages"))
    fields = _fields(params)
    if params.name is not None:
        fields["name"] = params.name
    template_id = request.path_params["template_id"]
    async with gw(request).sessions() as session:
        try:
            template = await store.update(session, _owner(principal), template_id, fields)
        except GatewayError as exc:
            if exc.code == "not_found" and principal.realm != "admin":
                await _refuse_global(session, principal, template_id)
            raise
    _changed(request)
    return json_response(store.view(template))


async def delete_template(request: Request) -> Response:
    principal = await _caller(request)
    template_id = request.path_params["template_id"]
    async with gw(request).sessions() as session:
        try:
            await store.remove(session, _owner(principal), template_id)
        except GatewayError as exc:
            if exc.code == "not_found" and principal.realm != "admin":
                await _refuse_global(session, principal, template_id)
            raise
    _changed(request)
    return Response(status_code=204)


async def _refuse_global(session: Any, principal: Principal, template_id: str) -> None:
    """A global template is visible to everyone, so changing it is 403, not 404."""
    try:
        template = await store.get_visible(session, principal.owner, template_id)
    except GatewayError:
        return
    if not template.owner:
        raise GatewayError("forbidden", "Global templates can only be changed with the admin token.")
