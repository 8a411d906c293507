"""An OTLP/HTTP trace receiver: decodes each exported protobuf request and keeps the spans, for trace tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gwtest.server_thread import ServerThread


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(x) for x in v.array_value.values)
    return getattr(v, kind) if kind else None


@dataclass
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    start_ns: int
    end_ns: int
    status_code: int
    attributes: dict[str, Any]
    service: str


@dataclass
class OTLPReceiver:
    spans: list[Span] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ServerThread | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def start(self) -> OTLPReceiver:
        async def traces(request: Request) -> Response:
            message = ExportTraceServiceRequest()
            message.ParseFromString(await request.body())
            found = []
            for resource_spans in message.resource_spans:
                resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for s in scope_spans.spans:
                        found.append(
                            Span(
                                s.name,
                                s.trace_id.hex(),
                                s.span_id.hex(),
                                s.parent_span_id.hex(),
                                s.kind,
                                s.start_time_unix_nano,
                                s.end_time_unix_nano,
                                s.status.code,
                                {a.key: _value(a.value) for a in s.attributes},
                                str(resource.get("service.name")),
                            )
                        )
            with self.lock:
                self.spans.extend(found)
                self.content_types.append(request.headers.get("content-type", ""))
            return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")

        self.server = ServerThread(Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])])).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def of_trace(self, trace_id: str) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]
