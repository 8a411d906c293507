"""Writing and reading the audit log (``GET /v1/admin/audit``).

Every control-plane change of a key, team, template, balance or token revocation adds one event, written
right after the change it describes (the control plane, never a request's hot path).
Details carry field names and new values, never a key, a token or a secret.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meshapi_gateway.ids import prefixed
from meshapi_gateway.store.audit_tables import AuditEvent

if TYPE_CHECKING:
    from meshapi_gateway.auth.principal import Principal
    from meshapi_gateway.store.token_tables import TokenRevocation

CLI = "@cli"
# The last event time this process wrote: events of one process are strictly ordered by ``at``.
_last_at = 0


def actor_of(principal: Principal) -> str:
    """The admin token acts as ``@admin`` (its principal's owner); others as their owner."""
    return principal.owner


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return value


async def record(
    session: AsyncSession,
    actor: str,
    action: str,
    target_type: str,
    target_id: str,
    owner: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    global _last_at
    clean = {k: _plain(v) for k, v in (details or {}).items() if k not in ("key", "key_hash")}
    _last_at = max(int(time.time() * 1000), _last_at + 1)
    session.add(
        AuditEvent(
            id=prefixed("aud"),
            at=_last_at,
            actor=actor[:200],
            action=action,
            target_type=target_type,
            target_id=target_id[:200],
            owner=owner,
            details=orjson.dumps(clean, default=str).decode() if clean else None,
        )
    )
    await session.commit()


async def record_revocation(session: AsyncSession, actor: str, row: TokenRevocation) -> None:
    """A control-plane token revocation: which token (its id, never the token) or whose tokens."""
    details = {"jti": row.jti, "issued_before": row.issued_before, "note": row.note or None}
    await record(session, actor, "token.revoke", "token", row.id, row.owner, details)


def event_view(row: AuditEvent) -> dict[str, Any]:
    from meshapi_gateway.billing.queries import iso_ms

    return {
        "id": row.id,
        "object": "audit.event",
        "at": iso_ms(row.at),
        "actor": row.actor,
        "action": row.action,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "owner": row.owner,
        "details": orjson.loads(row.details) if row.details else None,
    }


async def events(
    session: AsyncSession,
    *,
    since_ms: int | None,
    until_ms: int | None,
    actor: str | None,
    action: str | None,
    target_id: str | None,
    limit: int,
) -> tuple[list[AuditEvent], bool]:
    stmt = select(AuditEvent)
    if since_ms is not None:
        stmt = stmt.where(AuditEvent.at >= since_ms)
    if until_ms is not None:
        stmt = stmt.where(AuditEvent.at < until_ms)
    for column, value in ((AuditEvent.actor, actor), (AuditEvent.action, action), (AuditEvent.target_id, target_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    rows = list(
        (await session.execute(stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit + 1))).scalars()
    )
    return rows[:limit], len(rows) > limit
