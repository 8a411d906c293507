"""Helpers for the files and batches tests: catalog with slow models, batch lines, polling."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import httpx

from gwtest.harness import fake_models

TERMINAL = ("completed", "failed", "expired", "cancelled")


def batch_catalog(upstream_url: str) -> list[dict[str, Any]]:
    """The fake catalog plus slow models (``fake/slow-<s>`` answers after s seconds)."""
    common = {
        "provider": "openai_compat",
        "base_url": upstream_url,
        "api_key": "sk-fake",
        "prompt_usd_per_1m": "1",
        "completion_usd_per_1m": "2",
    }
    slow = [{"id": f"fake/slow-{s}", "upstream_model": f"slow-{s}", **common} for s in ("0.3", "1", "2")]
    # The seed README's model id, answered by the fake upstream's echo.
    seed = {"id": "openai/gpt-4o-mini", "upstream_model": "echo", **common}
    return [*fake_models(upstream_url), *slow, seed]


def chat_line(custom_id: str, text: str | None = None, model: str = "fake/echo") -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": text or f"say {custom_id}"}]},
    }


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


def parse_jsonl(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(x) for x in data.splitlines() if x.strip()]


def wait_for(check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy (bounded in time)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


def wait_batch(
    client: httpx.Client, batch_id: str, statuses: tuple[str, ...] = TERMINAL, timeout: float = 60.0
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        r = client.get(f"/v1/batches/{batch_id}")
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data if data["status"] in statuses else None

    result: dict[str, Any] = wait_for(check, timeout)
    return result


def ledger_rows(database_url: str, request_id_prefix: str) -> list[dict[str, Any]] | None:
    """Ledger rows whose request id starts with the prefix; None when this build has no ledger table."""
    import asyncio

    from meshapi_gateway.store import db
    from sqlalchemy import inspect, text

    async def run() -> list[dict[str, Any]] | None:
        engine = db.make_engine(database_url)
        try:
            async with engine.connect() as conn:
                names = await conn.run_sync(lambda c: inspect(c).get_table_names())
                if "ledger_entries" not in names:
                    return None
                rows = await conn.execute(
                    text("SELECT request_id, kind, cost_usd FROM ledger_entries WHERE request_id LIKE :p"),
                    {"p": request_id_prefix + "%"},
                )
                return [dict(r._mapping) for r in rows]
        finally:
            await engine.dispose()

    return asyncio.run(run())
