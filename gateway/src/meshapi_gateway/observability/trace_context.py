"""W3C trace context for one request: continued from the client's ``traceparent``, passed to upstreams.

Only made when tracing is on (``otel_endpoint``). The request's span id is chosen here, at
the start, and each upstream request gets a ``traceparent`` naming a new child span id;
the spans themselves are built after the request (``tracing.py``) with exactly these ids,
so a client's trace, the gateway's spans and an upstream's spans join into one tree.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

_HEX = frozenset("0123456789abcdef")


def _hex(value: str, length: int) -> bool:
    return len(value) == length and set(value) <= _HEX and value != "0" * length


def parse_traceparent(value: bytes | None) -> tuple[str, str, bool] | None:
    """``(trace_id, parent_span_id, sampled)`` of a valid version-00 header, else None (a new trace)."""
    if not value:
        return None
    try:
        parts = value.decode("ascii").strip().lower().split("-")
    except UnicodeDecodeError:
        return None
    if len(parts) < 4:
        return None
    version, trace_id, span_id, flags = parts[:4]
    # A later version may add fields after these four; version 00 has exactly four, ff is invalid.
    if version == "ff" or not (version == "00" or _hex(version, 2)) or (version == "00" and len(parts) != 4):
        return None
    if not (_hex(trace_id, 32) and _hex(span_id, 16) and len(flags) == 2 and set(flags) <= _HEX):
        return None
    return trace_id, span_id, bool(int(flags, 16) & 1)


@dataclass(slots=True)
class TraceContext:
    trace_id: str  # 32 hex digits
    span_id: str  # the request's span, 16 hex digits
    parent_span_id: str | None  # the client's span, when it sent one
    sampled: bool
    # One (span id, start in Unix nanoseconds) per upstream request, in the order they were sent.
    upstream: list[tuple[str, int]] = field(default_factory=list)

    @classmethod
    def start(cls, traceparent: bytes | None) -> TraceContext:
        incoming = parse_traceparent(traceparent)
        span_id = os.urandom(8).hex()
        if incoming is None:
            return cls(os.urandom(16).hex(), span_id, None, True)
        trace_id, parent, sampled = incoming
        return cls(trace_id, span_id, parent, sampled)

    def child_header(self) -> str:
        """The ``traceparent`` for the next upstream request (a new child span of the request's)."""
        child = os.urandom(8).hex()
        self.upstream.append((child, time.time_ns()))
        return f"00-{self.trace_id}-{child}-{'01' if self.sampled else '00'}"
