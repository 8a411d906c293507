"""Templates in the database: create, read, update, delete, each scoped to an owner.

Global templates (``owner`` empty, ``is_global``) are created by an admin and readable
by every owner; only an admin changes them.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import Any

import orjson
from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from meshapi_gateway.errors import GatewayError
from meshapi_gateway.store.accounts_tables import PromptTemplate
from meshapi_gateway.templates.render import Template

GLOBAL = ""
FIELDS = ("description", "system", "messages", "model", "params", "variables")
_JSON_FIELDS = {"messages", "params", "variables"}


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


def to_template(row: PromptTemplate) -> Template:
    return Template(id=row.id, owner=row.owner, name=row.name, description=row.description, system=row.system,
                    messages=_loads(row.messages, []), model=row.model, params=_loads(row.params, {}),
                    variables=_loads(row.variables, []), created_at=row.created_at, updated_at=row.updated_at)


def view(t: Template) -> dict[str, Any]:
    """The template object of docs/wire.md (Templates)."""
    return {"id": t.id, "object": "template", "name": t.name, "owner": t.owner or None, "is_global": not t.owner,
            "description": t.description, "system": t.system, "messages": t.messages, "model": t.model,
            "params": t.params, "variables": t.variables, "created_at": iso(t.created_at),
            "updated_at": iso(t.updated_at)}


def _column_values(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: (orjson.dumps(v).decode() if k in _JSON_FIELDS and v is not None else v)
            for k, v in fields.items() if k in FIELDS}


def _conflict(name: str) -> GatewayError:
    return GatewayError("conflict", f"A template named '{name}' already exists.")


async def create(session: AsyncSession, owner: str, name: str, fields: dict[str, Any]) -> Template:
    ts = now_ms()
    row = PromptTemplate(id=str(uuid.uuid4()), owner=owner, name=name, created_at=ts, updated_at=ts,
                         global_=owner == GLOBAL, **_column_values(fields))
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise _conflict(name) from None
    return to_template(row)


async def _own_row(session: AsyncSession, owner: str, template_id: str) -> PromptTemplate:
    if not is_uuid(template_id):
        raise not_found(template_id)
    row = (await session.execute(select(PromptTemplate).where(PromptTemplate.id == template_id))).scalar_one_or_none()
    if row is None or row.owner != owner:
        raise not_found(template_id)
    return row


async def get_visible(session: AsyncSession, owner: str, template_id: str) -> Template:
    """An owner's own template or a global one, by id."""
    if not is_uuid(template_id):
        raise not_found(template_id)
    row = (await session.execute(select(PromptTemplate).where(PromptTemplate.id == template_id))).scalar_one_or_none()
    if row is None or row.owner not in (owner, GLOBAL):
        raise not_found(template_id)
    return to_template(row)


async def list_visible(session: AsyncSession, owner: str) -> list[Template]:
    stmt = (select(PromptTemplate).where(or_(PromptTemplate.owner == owner, PromptTemplate.owner == GLOBAL))
            .order_by(PromptTemplate.created_at.desc(), PromptTemplate.id.desc()))
    return [to_template(r) for r in (await session.execute(stmt)).scalars()]


async def update(session: AsyncSession, owner: str, template_id: str, fields: dict[str, Any]) -> Template:
    row = await _own_row(session, owner, template_id)
    if "name" in fields and fields["name"] is not None:
        row.name = fields["name"]
    for name, value in _column_values(fields).items():
        setattr(row, name, value)
    row.updated_at = max(now_ms(), row.updated_at + 1)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise _conflict(str(fields.get("name"))) from None
    return to_template(row)


async def remove(session: AsyncSession, owner: str, template_id: str) -> None:
    row = await _own_row(session, owner, template_id)
    await session.execute(delete(PromptTemplate).where(PromptTemplate.id == row.id))
    await session.commit()


async def find(session: AsyncSession, owner: str, ref: str) -> Template | None:
    """Resolve what a chat request names: a UUID (own or global), else a name (own first, then global)."""
    if is_uuid(ref):
        row = (await session.execute(select(PromptTemplate).where(PromptTemplate.id == ref))).scalar_one_or_none()
        if row is not None and row.owner in (owner, GLOBAL):
            return to_template(row)
    rows = (await session.execute(select(PromptTemplate).where(
        PromptTemplate.name == ref, or_(PromptTemplate.owner == owner, PromptTemplate.owner == GLOBAL)))).scalars()
    by_owner = {r.owner: r for r in rows}
    row = by_owner.get(owner) or by_owner.get(GLOBAL)
    return to_template(row) if row is not None else None
