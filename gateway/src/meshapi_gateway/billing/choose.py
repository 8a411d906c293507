"""Building the billing the gateway runs with, from the settings."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker

from meshapi_gateway.billing.ledger import LedgerBilling
from meshapi_gateway.catalog import Catalog
from meshapi_gateway.config import Settings


def build_billing(settings: Settings, sessions: async_sessionmaker, catalog: Catalog) -> LedgerBilling:  # type: ignore[type-arg]
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
    )
