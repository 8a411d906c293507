"""Compare stream frames in the shape every client understands (docs/wire.md, Compare stream events).

Each frame has an ``event:`` line and a JSON payload ``{"event": name, "data": {...}}``
plus flat copies of the common fields: the 0.1.0 SDK reads only the JSON (the README's
``if event.event == "delta": print(event.data)``), 0.1.11 reads the ``event:`` line and
the flat fields. A model's failure is data (``data.error``/``error_code``), never a
top-level ``error`` key, which both SDKs would treat as a fatal stream error.
"""

from __future__ import annotations

from typing import Any

from meshapi_gateway.sse import frame

# Flat copies allowed next to ``data`` (never ``error``).
_FLAT = (
    "model",
    "delta",
    "content",
    "finish_reason",
    "comparison_id",
    "comparison_model",
    "models",
    "latency_ms",
    "total_latency_ms",
    "error_code",
    "usage",
    "skip_comparison",
    "partial",
    "comparison_fallback_used",
)


def compare_frame(name: str, data: dict[str, Any]) -> bytes:
    payload: dict[str, Any] = {"event": name, "data": data}
    payload.update({k: data[k] for k in _FLAT if k in data})
    return frame(payload, event=name)


def model_done_data(result: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in result.items() if k != "response_body"}
    data["error_message"] = result.get("error")
    return data
