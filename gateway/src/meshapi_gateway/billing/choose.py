"""Building the billing the gateway runs with, from the settings."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker

from meshapi_gateway.billing.ledger import LedgerBilling
from meshapi_gateway.catalog import Catalog
from meshapi_gateway.config import Settings
from meshapi_gateway.store.data_version import DataVersion
from meshapi_gateway.store.sqlite_writer import SQLiteWriter


def build_billing(
    settings: Settings,
    sessions: async_sessionmaker,  # type: ignore[type-arg]
    catalog: Catalog,
    version: DataVersion | None = None,
    sqlite: SQLiteWriter | None = None,
) -> LedgerBilling:
    return LedgerBilling(
        sessions,
        catalog,
        enforce=settings.billing_enforce,
        default_credit=settings.default_credit_usd,
        flush_seconds=settings.ledger_flush_seconds,
        batch_size=settings.ledger_batch_size,
        refresh_seconds=settings.balance_refresh_seconds,
        redis_url=settings.redis_url,
        sync_seconds=settings.balance_sync_seconds,
        journal_dir=settings.data_dir / "ledger-journal",
        sqlite=sqlite.share() if sqlite is not None else None,
        version=version,
    )
