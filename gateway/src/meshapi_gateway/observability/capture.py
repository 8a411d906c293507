"""Keeping a data-plane request's bodies for the request log, when bodies are turned on.

Only references to the chunks that pass anyway are kept, up to a raw limit per direction;
joining, reassembling and redacting happen later on the writer (``bodies.py``).
"""

from __future__ import annotations

from starlette.types import Message, Receive

from meshapi_gateway.observability.record import RequestRecord


class BodyCapture:
    __slots__ = ("limit", "rec", "request_parts", "request_size", "response_parts", "response_size")

    def __init__(self, rec: RequestRecord, limit: int) -> None:
        self.rec = rec
        self.limit = limit
        self.request_parts: list[bytes] = []
        self.request_size = 0
        self.response_parts: list[bytes] = []
        self.response_size = 0

    def receive(self, receive: Receive) -> Receive:
        async def capturing() -> Message:
            message = await receive()
            if message["type"] == "http.request" and self.request_size < self.limit:
                body = message.get("body", b"")
                self.request_parts.append(body)
                self.request_size += len(body)
            return message

        return capturing

    def sent(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            for name, value in message.get("headers", ()):
                if name == b"content-type" and value.startswith(b"text/event-stream"):
                    self.rec.response_sse = True
        elif message["type"] == "http.response.body" and self.response_size < self.limit:
            body = message.get("body", b"")
            self.response_parts.append(bytes(body))
            self.response_size += len(body)

    def finish(self) -> None:
        self.rec.request_body = b"".join(self.request_parts)
        self.rec.response_body = b"".join(self.response_parts)
