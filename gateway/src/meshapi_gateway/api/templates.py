"""``/v1/templates``: prompt template CRUD and versions (docs/wire.md, Templates), JWT or rsk key of the owner.

The admin token manages global templates (``is_global``), which every owner can read
and use but not change. A template with ``team_id`` is shared with that team's members;
its owner and the team's admins change it. Every create and update makes a version;
``/versions`` lists and reads them and makes one active again. Foreign, unknown and
non-UUID ids are all 404 ``not_found``.
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
from meshapi_gateway.errors import GatewayError, field_error
from meshapi_gateway.governance import audit
from meshapi_gateway.governance.audit import actor_of
from meshapi_gateway.templates import store
from meshapi_gateway.templates.checks import check_definition
from meshapi_gateway.templates.hook import viewer_of


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
    team_id: Optional[str] = Field(None, min_length=1, max_length=40)


class UpdateTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Optional[str] = Field(None, min_length=1, max_length=200)
    description: Optional[str] = None
    system: Optional[str] = None
    messages: Optional[list[_TemplateMessage]] = None
    model: Optional[str] = Field(None, max_length=200)
    params: Optional[dict[str, Any]] = None
    variables: Optional[list[str]] = None
    team_id: Optional[str] = Field(None, min_length=1, max_length=40)


EXTRA_PATHS.update(
    {
        "/v1/templates": {
            "post": _op(
                "Create a prompt template (201; 409 on a duplicate name)",
                CreateTemplate.model_json_schema(),
                status=201,
            ),
            "get": _op("List the owner's and the global templates (bare array, newest first)"),
        },
        "/v1/templates/{template_id}": {
            "get": _op("Get a template"),
            "patch": _op("Change a template's given fields", UpdateTemplate.model_json_schema()),
            "delete": _op("Delete a template (204)", status=204),
        },
        "/v1/templates/{template_id}/versions": {"get": _op("Every version of a template, newest first")},
        "/v1/templates/{template_id}/versions/{version}": {"get": _op("One version of a template")},
        "/v1/templates/{template_id}/versions/{version}/activate": {
            "post": _op("Make a version the active one again (no new version is made)")
        },
    }
)


def _owner(principal: Principal) -> str:
    """Whose templates a caller manages: its own, or the global ones for the admin."""
    if principal.realm == "admin":
        return store.GLOBAL
    if principal.owner == store.GLOBAL:  # an empty owner name must not reach the global templates
        raise GatewayError("forbidden", "This credential has no owner.")
    return principal.owner


def _fields(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_unset=True, exclude={"name", "team_id"})


def _viewer(request: Request, principal: Principal) -> store.Viewer:
    _owner(principal)  # refuses a credential without an owner
    return viewer_of(gw(request), principal)


def _team_to_share(request: Request, principal: Principal, team_id: str | None) -> str | None:
    """A template may be shared only with a team its owner belongs to (global ones are everyone's already)."""
    if team_id is None:
        return None
    if principal.realm == "admin":
        raise field_error("team_id", "Global templates are shared with everyone already", value=team_id)
    if team_id not in viewer_of(gw(request), principal).teams:
        raise field_error("team_id", f"The caller is not a member of a team '{team_id}'", value=team_id)
    return team_id


def _version_number(request: Request) -> int:
    raw = request.path_params["version"]
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 10**9:
        raise GatewayError("not_found", f"Template version '{raw[:50]}' not found.")
    return int(raw)


async def _caller(request: Request) -> Principal:
    return await authenticate(gw(request), request.headers.get("authorization"), "any")


def _changed(request: Request) -> None:
    cache = gw(request).templates
    if cache is not None:
        cache.invalidate()


async def create_template(request: Request) -> Response:
    principal = await _caller(request)
    body = await read_json_object(request)
    params = validate(CreateTemplate, body)
    assert isinstance(params, CreateTemplate)
    check_definition(body.get("params"), body.get("messages"))
    team_id = _team_to_share(request, principal, params.team_id)
    async with gw(request).sessions() as session:
        template = await store.create(session, _owner(principal), params.name, _fields(params), team_id)
        await audit.record(
            session,
            actor_of(principal),
            "template.create",
            "template",
            template.id,
            template.owner or None,
            {"name": template.name, "team_id": team_id, "version": 1},
        )
    _changed(request)
    return json_response(store.view(template), status=201)


async def list_templates(request: Request) -> Response:
    principal = await _caller(request)
    async with gw(request).sessions() as session:
        templates = await store.list_visible(session, _viewer(request, principal))
    return json_response([store.view(t) for t in templates])


async def get_template(request: Request) -> Response:
    principal = await _caller(request)
    async with gw(request).sessions() as session:
        template = await store.get_visible(session, _viewer(request, principal), request.path_params["template_id"])
    return json_response(store.view(template))


async def list_versions(request: Request) -> Response:
    principal = await _caller(request)
    async with gw(request).sessions() as session:
        found = await store.versions(session, _viewer(request, principal), request.path_params["template_id"])
    return json_response({"object": "list", "data": found})


async def get_version(request: Request) -> Response:
    principal = await _caller(request)
    number = _version_number(request)
    async with gw(request).sessions() as session:
        found = await store.get_version(
            session, _viewer(request, principal), request.path_params["template_id"], number
        )
    return json_response(found)


async def activate_version(request: Request) -> Response:
    principal = await _caller(request)
    number = _version_number(request)
    template_id = request.path_params["template_id"]
    viewer = _viewer(request, principal)
    async with gw(request).sessions() as session:
        try:
            template = await store.activate(session, viewer, template_id, number)
        except GatewayError as exc:
            if exc.code == "not_found":
                await _refuse_visible(session, viewer, template_id)
            raise
        await audit.record(
            session,
            actor_of(principal),
            "template.activate",
            "template",
            template_id,
            template.owner or None,
            {"version": number},
        )
    _changed(request)
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
    team: Any = ...
    if "team_id" in params.model_fields_set:
        team = _team_to_share(request, principal, params.team_id)
    template_id = request.path_params["template_id"]
    viewer = _viewer(request, principal)
    async with gw(request).sessions() as session:
        try:
            template = await store.update(session, viewer, template_id, fields, team)
        except GatewayError as exc:
            if exc.code == "not_found":
                await _refuse_visible(session, viewer, template_id)
            raise
        await audit.record(
            session,
            actor_of(principal),
            "template.update",
            "template",
            template_id,
            template.owner or None,
            {"fields": sorted(params.model_fields_set), "version": template.version},
        )
    _changed(request)
    return json_response(store.view(template))


async def delete_template(request: Request) -> Response:
    principal = await _caller(request)
    template_id = request.path_params["template_id"]
    viewer = _viewer(request, principal)
    async with gw(request).sessions() as session:
        try:
            await store.remove(session, viewer, template_id)
        except GatewayError as exc:
            if exc.code == "not_found":
                await _refuse_visible(session, viewer, template_id)
            raise
        await audit.record(session, actor_of(principal), "template.delete", "template", template_id)
    _changed(request)
    return Response(status_code=204)


async def _refuse_visible(session: Any, viewer: store.Viewer, template_id: str) -> None:
    """A template the caller can see but not change (global, or a team's) is 403, not 404."""
    try:
        row = await store.visible_row(session, viewer, template_id)
    except GatewayError:
        return
    if not row.owner:
        raise GatewayError("forbidden", "Global templates can only be changed with the admin token.")
    raise GatewayError("forbidden", "Only the template's owner and its team's admins can change it.")
