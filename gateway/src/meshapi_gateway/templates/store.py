"""Templates in the database: create, read, update, delete, versions, each scoped to a viewer.

Global templates (``owner`` empty, ``is_global``) are created by an admin and readable
by every owner; only an admin changes them. A template with a ``team_id`` is readable and
usable by every member of that team; its owner and the team's admins change it. Every
create or update stores a version; an earlier one can be made active again, and a chat
request can pin one (``"template": "name@3"``).
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson
from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from meshapi_gateway.errors import GatewayError
from meshapi_gateway.store.accounts_tables import PromptTemplate, PromptTemplateVersion
from meshapi_gateway.templates.render import Template

GLOBAL = ""
FIELDS = ("description", "system", "messages", "model", "params", "variables")
_JSON_FIELDS = {"messages", "params", "variables"}
# ``name@3``: version 3 of the template ``name`` (or of the template with that id).
PINNED = re.compile(r"^(?P<ref>.+)@(?P<version>[1-9][0-9]{0,8})$")


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: an owner (``GLOBAL`` for the admin), the teams it is in, and those it administers."""

    owner: str
    teams: frozenset[str] = field(default_factory=frozenset)
    admin_teams: frozenset[str] = field(default_factory=frozenset)

    def sees(self, row: PromptTemplate) -> bool:
        return row.owner in (self.owner, GLOBAL) or (row.team_id is not None and row.team_id in self.teams)

    def changes(self, row: PromptTemplate) -> bool:
        return row.owner == self.owner or (row.team_id is not None and row.team_id in self.admin_teams)


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def not_found(ref: str) -> GatewayError:
    return GatewayError("not_found", f"Template '{ref}' not found.")


def _loads(text: str | None, default: Any) -> Any:
    return orjson.loads(text) if text else default


def to_template(row: PromptTemplate, version: PromptTemplateVersion | None = None) -> Template:
    """The template (its active fields, or those of ``version``)."""
    src: Any = version if version is not None else row
    return Template(
        id=row.id,
        owner=row.owner,
        name=src.name,
        description=src.description,
        system=src.system,
        messages=_loads(src.messages, []),
        model=src.model,
        params=_loads(src.params, {}),
        variables=_loads(src.variables, []),
        created_at=row.created_at,
        updated_at=version.created_at if version is not None else row.updated_at,
        version=version.version if version is not None else row.version,
        latest_version=row.latest_version,
        team_id=row.team_id,
    )


def view(t: Template) -> dict[str, Any]:
    """The template object of docs/wire.md (Templates), with its version and team."""
    return {
        "id": t.id,
        "object": "template",
        "name": t.name,
        "owner": t.owner or None,
        "is_global": not t.owner,
        "description": t.description,
        "system": t.system,
        "messages": t.messages,
        "model": t.model,
        "params": t.params,
        "variables": t.variables,
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
        "version": t.version,
        "latest_version": t.latest_version,
        "team_id": t.team_id,
    }


def version_view(row: PromptTemplate, v: PromptTemplateVersion) -> dict[str, Any]:
    out = view(to_template(row, v))
    out.update({"object": "template.version", "created_by": v.created_by or None, "active": v.version == row.version})
    return out


def _snapshot(row: PromptTemplate, by: str, at: int) -> PromptTemplateVersion:
    return PromptTemplateVersion(
        template_id=row.id,
        version=row.latest_version,
        name=row.name,
        description=row.description,
        system=row.system,
        messages=row.messages,
        model=row.model,
        params=row.params,
        variables=row.variables,
        created_by=by,
        created_at=at,
    )


def _column_values(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (orjson.dumps(v).decode() if k in _JSON_FIELDS and v is not None else v)
        for k, v in fields.items()
        if k in FIELDS
    }


def _conflict(name: str) -> GatewayError:
    return GatewayError("conflict", f"A template named '{name}' already exists.")


async def create(
    session: AsyncSession, owner: str, name: str, fields: dict[str, Any], team_id: str | None = None
) -> Template:
    ts = now_ms()
    row = PromptTemplate(
        id=str(uuid.uuid4()),
        owner=owner,
        name=name,
        created_at=ts,
        updated_at=ts,
        global_=owner == GLOBAL,
        version=1,
        latest_version=1,
        team_id=team_id,
        **_column_values(fields),
    )
    session.add(row)
    session.add(_snapshot(row, owner, ts))
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise _conflict(name) from None
    return to_template(row)


def _as_viewer(who: str | Viewer) -> Viewer:
    return who if isinstance(who, Viewer) else Viewer(who)


async def _row(session: AsyncSession, template_id: str) -> PromptTemplate | None:
    if not is_uuid(template_id):
        return None
    stmt = select(PromptTemplate).where(PromptTemplate.id == template_id)
    row: PromptTemplate | None = (await session.execute(stmt)).scalar_one_or_none()
    return row


async def _changeable_row(session: AsyncSession, who: str | Viewer, template_id: str) -> PromptTemplate:
    viewer = _as_viewer(who)
    row = await _row(session, template_id)
    if row is None or not viewer.changes(row):
        raise not_found(template_id)
    return row


async def visible_row(session: AsyncSession, who: str | Viewer, template_id: str) -> PromptTemplate:
    row = await _row(session, template_id)
    if row is None or not _as_viewer(who).sees(row):
        raise not_found(template_id)
    return row


async def get_visible(session: AsyncSession, who: str | Viewer, template_id: str) -> Template:
    """A template the viewer may read (its own, a global one, one of its teams'), by id."""
    return to_template(await visible_row(session, who, template_id))


def _visible_clause(viewer: Viewer) -> Any:
    clauses = [PromptTemplate.owner == viewer.owner, PromptTemplate.owner == GLOBAL]
    if viewer.teams:
        clauses.append(PromptTemplate.team_id.in_(sorted(viewer.teams)))
    return or_(*clauses)


async def list_visible(session: AsyncSession, who: str | Viewer) -> list[Template]:
    stmt = (
        select(PromptTemplate)
        .where(_visible_clause(_as_viewer(who)))
        .order_by(PromptTemplate.created_at.desc(), PromptTemplate.id.desc())
    )
    return [to_template(r) for r in (await session.execute(stmt)).scalars()]


async def update(
    session: AsyncSession, who: str | Viewer, template_id: str, fields: dict[str, Any], team_id: Any = ...
) -> Template:
    """Change the given fields: a new version, made active (``team_id``: share with a team, ``None`` stop)."""
    viewer = _as_viewer(who)
    row = await _changeable_row(session, viewer, template_id)
    if "name" in fields and fields["name"] is not None:
        row.name = fields["name"]
    for name, value in _column_values(fields).items():
        setattr(row, name, value)
    if team_id is not ...:
        row.team_id = team_id
    row.updated_at = max(now_ms(), row.updated_at + 1)
    row.latest_version += 1
    row.version = row.latest_version
    session.add(_snapshot(row, viewer.owner, row.updated_at))
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise _conflict(str(fields.get("name"))) from None
    return to_template(row)


async def versions(session: AsyncSession, who: str | Viewer, template_id: str) -> list[dict[str, Any]]:
    """Every version of a template the viewer may read, newest first."""
    row = await visible_row(session, who, template_id)
    stmt = (
        select(PromptTemplateVersion)
        .where(PromptTemplateVersion.template_id == row.id)
        .order_by(PromptTemplateVersion.version.desc())
    )
    return [version_view(row, v) for v in (await session.execute(stmt)).scalars()]


async def _version(session: AsyncSession, template_id: str, number: int) -> PromptTemplateVersion | None:
    stmt = select(PromptTemplateVersion).where(
        PromptTemplateVersion.template_id == template_id, PromptTemplateVersion.version == number
    )
    found: PromptTemplateVersion | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


async def get_version(session: AsyncSession, who: str | Viewer, template_id: str, number: int) -> dict[str, Any]:
    row = await visible_row(session, who, template_id)
    v = await _version(session, row.id, number)
    if v is None:
        raise GatewayError("not_found", f"Template '{template_id}' has no version {number}.")
    return version_view(row, v)


async def activate(session: AsyncSession, who: str | Viewer, template_id: str, number: int) -> Template:
    """Make an earlier (or later) version the active one again; no new version is made."""
    row = await _changeable_row(session, who, template_id)
    v = await _version(session, row.id, number)
    if v is None:
        raise GatewayError("not_found", f"Template '{template_id}' has no version {number}.")
    for name in ("name", *FIELDS):
        setattr(row, name, getattr(v, name))
    row.version = number
    row.updated_at = max(now_ms(), row.updated_at + 1)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise _conflict(v.name) from None
    return to_template(row)


async def remove(session: AsyncSession, who: str | Viewer, template_id: str) -> None:
    row = await _changeable_row(session, who, template_id)
    await session.execute(delete(PromptTemplateVersion).where(PromptTemplateVersion.template_id == row.id))
    await session.execute(delete(PromptTemplate).where(PromptTemplate.id == row.id))
    await session.commit()


async def _find_row(session: AsyncSession, viewer: Viewer, ref: str) -> PromptTemplate | None:
    if is_uuid(ref):
        row = await _row(session, ref)
        if row is not None and viewer.sees(row):
            return row
    rows = (
        await session.execute(select(PromptTemplate).where(PromptTemplate.name == ref, _visible_clause(viewer)))
    ).scalars()
    # The viewer's own first, then one shared with a team of the viewer, then a global one.
    ranked = sorted(rows, key=lambda r: (0 if r.owner == viewer.owner else 2 if r.owner == GLOBAL else 1, r.id))
    return ranked[0] if ranked else None


async def find(session: AsyncSession, who: str | Viewer, ref: str) -> Template | None:
    """Resolve what a chat request names: an id or a name (own, then a team's, then global), or ``name@N``."""
    viewer = _as_viewer(who)
    row = await _find_row(session, viewer, ref)
    if row is not None:
        return to_template(row)
    pinned = PINNED.match(ref)
    if pinned is None:
        return None
    row = await _find_row(session, viewer, pinned["ref"])
    if row is None:
        return None
    v = await _version(session, row.id, int(pinned["version"]))
    return to_template(row, v) if v is not None else None
