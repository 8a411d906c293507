"""What every CLI command module shares: settings from the arguments, output, a database session.

Its own module so that the command modules (``cli``, ``cli_accounts``) import it and never
each other.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any, Callable

from meshapi_gateway.config import Settings, load_settings


def settings_of(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "workers", "data_dir", "database_url", "ssl_certfile", "ssl_keyfile"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return load_settings(getattr(args, "config", None), overrides)


def show(args: argparse.Namespace, data: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=str))
    else:
        print(text)


async def with_db(settings: Settings, fn: Callable[[Any], Any], migrate: bool = True) -> Any:
    from meshapi_gateway.store import db

    if migrate:
        await asyncio.to_thread(db.upgrade, settings.resolved_database_url())
    engine = db.make_engine(settings.resolved_database_url())
    try:
        async with db.sessionmaker(engine)() as session:
            return await fn(session)
    finally:
        await engine.dispose()


def tenant_owner(name: str) -> str:
    """An ``--owner`` argument that names a tenant (not a reserved name such as the admin's)."""
    from meshapi_gateway.auth.principal import owner_name_problem

    problem = owner_name_problem(name)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"owner {name!r}: {problem}")
    return name
