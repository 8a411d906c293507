"""Seeing what a running test gateway billed: a recorder around whatever billing it runs.

Every ``UsageRecord`` still reaches the real billing (the ledger); the test additionally
keeps the records, so it can assert "billed once, by the model that answered" per request id.
"""

from __future__ import annotations

import time
from typing import Any

from gwtest.harness import Gateway


class RecordingBilling:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.records: list[Any] = []
        self.records_at_close: int | None = None

    def record(self, record: Any) -> None:
        self.records.append(record)
        self.inner.record(record)

    async def aclose(self) -> None:
        # How many records existed when the gateway flushed billing for the last time.
        self.records_at_close = len(self.records)
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def for_request(self, request_id: str, wait: float = 5.0, expect: int = 1) -> list[Any]:
        """The records of one request, waiting briefly for streams that settle after the client is served."""
        deadline = time.monotonic() + wait
        while True:
            found = [r for r in self.records if r.request_id == request_id]
            if len(found) >= expect or time.monotonic() > deadline:
                return found
            time.sleep(0.02)


def gateway_state(gw: Gateway) -> Any:
    """The live ``GatewayState`` of a gateway started by the harness."""
    return gw.server.server.config.app.app.state.gw


def install_recording_billing(gw: Gateway) -> RecordingBilling:
    state = gateway_state(gw)
    if isinstance(state.billing, RecordingBilling):
        return state.billing
    recorder = RecordingBilling(state.billing)
    state.billing = recorder
    return recorder
