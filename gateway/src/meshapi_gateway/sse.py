"""Server-sent events both ways: framing what we send, parsing what upstreams send.

Outgoing frames follow docs/wire.md, SSE framing: ``data: <ascii json>\\n\\n``, one whole frame per
write, optional ``event:`` line. Incoming streams are parsed on bytes (lines split on
``\\n`` only, a trailing ``\\r`` dropped), so nothing depends on how the network cut them.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

from meshapi_gateway.observability.record import note_error
from meshapi_gateway.wire_json import dumps_ascii

DONE_FRAME = b"data: [DONE]\n\n"
HEARTBEAT_FRAME = b": keep-alive\n\n"


def frame(payload: Any, event: str | None = None) -> bytes:
    data = payload if isinstance(payload, bytes) else dumps_ascii(payload)
    if event:
        return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
    return b"data: " + data + b"\n\n"


def error_frame(code: str, message: str, **extra: Any) -> bytes:
    note_error(code)
    err: dict[str, Any] = {"code": code, "message": message}
    err.update({k: v for k, v in extra.items() if v is not None})
    return frame({"error": err})


class SSEEvent:
    """One event. ``more`` is True when further events of the same network read follow at once.

    Relays use it to write everything one read brought in a single socket write, without
    ever holding an event back waiting for the network.
    """

    __slots__ = ("data", "event", "more")

    def __init__(self, event: str, data: str, more: bool = False) -> None:
        self.event = event
        self.data = data
        self.more = more


async def parse_sse(chunks: AsyncIterator[bytes]) -> AsyncIterator[SSEEvent]:
    """Yield events from a byte stream; an unterminated last event is still delivered."""
    buf = b""
    event = ""
    data: list[str] = []
    async for chunk in chunks:
        buf = buf + chunk if buf else chunk
        start = 0
        ready: list[SSEEvent] = []
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = buf[start:nl]
            start = nl + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if data:
                    ready.append(SSEEvent(event, "\n".join(data), True))
                event, data = "", []
                continue
            if line[:1] == b":":
                continue
            field, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                data.append(value.decode("utf-8", "replace"))
            elif field == b"event":
                event = value.decode("utf-8", "replace")
        buf = buf[start:]
        if ready:
            ready[-1].more = False
            for item in ready:
                yield item
    if buf.strip():
        line = buf.rstrip(b"\r\n")
        field, _, value = line.partition(b":")
        if field == b"data":
            data.append((value[1:] if value[:1] == b" " else value).decode("utf-8", "replace"))
    if data:
        yield SSEEvent(event, "\n".join(data))
