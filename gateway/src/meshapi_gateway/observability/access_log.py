"""The access log: one line per request, plain text or one JSON object (``access_log_format``).

A line never carries a secret: no header but the user agent, no query string (a key may
travel there), no body. Data-plane requests add what their record knows (owner, key id,
model, tokens, cost); the key id names a key without revealing it.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

from meshapi_gateway.money import money
from meshapi_gateway.observability.record import RequestRecord

log = logging.getLogger("meshapi_gateway.access")


def use_json_lines() -> None:
    """Print access lines as bare JSON on stdout (one object a line, for a log shipper)."""
    if any(getattr(h, "meshapi_json", False) for h in log.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.meshapi_json = True  # type: ignore[attr-defined]
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def json_line(method: str, path: str, status: int, duration: float, request_id: str, rec: RequestRecord | None) -> str:
    out: dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
        "request_id": request_id,
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(duration * 1000, 2),
    }
    if rec is not None:
        ttft = rec.time_to_first_token
        cost = rec.cost
        prompt, completion, _ = rec.tokens()
        out.update(
            {
                "owner": rec.owner,
                "key_id": rec.key_id,
                "team": rec.team,
                "requested_model": rec.requested_model,
                "model": rec.model,
                "deployment": rec.deployment,
                "attempts": sum(len(c.attempts) for c in rec.calls),
                "error_code": rec.error_code,
                "streamed": rec.streamed,
                "ttft_ms": None if ttft is None else round(ttft * 1000, 2),
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "cost": None if cost is None else money(cost),
                "idempotent_replay": rec.replayed,
                "client": rec.client_address,
                "user_agent": rec.user_agent,
            }
        )
    return orjson.dumps(out).decode()
