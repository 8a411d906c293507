"""Whether this node can take traffic, and, beside it, how the local model is doing.

A load balancer asks ``/ready`` to decide whether to send a node requests. Every request needs
the database (keys, ledger) and, when configured, Redis (shared limits, balances, idempotency),
and the schema the code expects; those decide. The local model is one model among many and
loads for seconds after a start or a crash: its state is reported next to the answer, never as
the answer, so a loading model does not pull a whole node out of rotation.
"""

from __future__ import annotations

import asyncio
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

if TYPE_CHECKING:
    from meshapi_gateway.state import GatewayState

# A probe that takes longer than this is a failed probe: a load balancer must not wait on us.
CHECK_TIMEOUT_SECONDS = 2.0
_VERSIONS = Path(__file__).parent / "store" / "migrations" / "versions"
_REVISION = re.compile(r'^revision\s*=\s*["\']([^"\']+)["\']', re.M)
_DOWN = re.compile(r'^down_revision\s*=\s*["\']([^"\']+)["\']', re.M)


@lru_cache(maxsize=1)
def expected_revisions() -> frozenset[str]:
    """The schema heads this code was written for, read from the migration files (not through
    Alembic, which the serving process never loads)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in _VERSIONS.glob("*.py"):
        source = path.read_text()
        revisions.update(_REVISION.findall(source))
        parents.update(_DOWN.findall(source))
    return frozenset(revisions - parents)


async def _database(state: "GatewayState") -> tuple[str, str]:
    async with state.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        try:
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        except Exception:  # no such table: never migrated
            return "ok", "not applied"
    found = frozenset(str(r) for r in rows)
    return (
        "ok",
        "ok"
        if found == expected_revisions()
        else f"at {', '.join(sorted(found)) or 'none'}, expected {', '.join(sorted(expected_revisions()))}",
    )


async def node_checks(state: "GatewayState") -> dict[str, str]:
    """``"ok"`` or what is wrong, per dependency; the node is ready when all say ``"ok"``."""
    checks: dict[str, str] = {}
    try:
        checks["database"], checks["migrations"] = await asyncio.wait_for(_database(state), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # readiness reports, it does not crash
        checks["database"] = f"error: {type(exc).__name__}"
        checks["migrations"] = "unknown"
    ping = getattr(state.limits, "ping", None)
    if state.settings.redis_url and ping is not None:
        try:
            await asyncio.wait_for(ping(), CHECK_TIMEOUT_SECONDS)
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    return checks


def local_model_state(state: "GatewayState") -> dict[str, Any]:
    """``{"state": "off" | "loading" | "ready" | "restarting", ...}``: informative, never a readiness vote."""
    model = state.local_model
    if model is None:
        return {"state": "off"}
    return dict(model.status())
