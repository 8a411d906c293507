"""Turning usage into money: per-request cost, the balance check and the ledger."""

from meshapi_gateway.billing.usage import Billing, UsageRecord, requested_model, usage_counts

__all__ = ["Billing", "UsageRecord", "requested_model", "usage_counts"]
