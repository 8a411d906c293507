"""OpenTelemetry traces (OTLP over HTTP): a span per data-plane request and a child span per upstream attempt.

Off unless ``otel_endpoint`` is set, and then the OpenTelemetry SDK is imported here and
nowhere else, so a gateway without tracing never loads it. The spans are built when the
request has finished, from its record, with the ids chosen while it ran (``trace_context``:
the request's span continues the client's ``traceparent``, and each attempt's span id is
the one its upstream received). Exporting is the SDK's batch processor, on its own thread.

Attributes follow the OpenTelemetry GenAI semantic conventions (``gen_ai.*``), plus ours
(``meshapi.*``: owner, key id, cost, fallback, request id).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from meshapi_gateway.money import money
from meshapi_gateway.observability.record import RequestRecord

if TYPE_CHECKING:
    from meshapi_gateway.state import GatewayState

log = logging.getLogger("meshapi_gateway.tracing")

# How long the batch processor gathers spans before an export (milliseconds).
EXPORT_DELAY_MS = 1000


def traces_url(endpoint: str) -> str:
    """``http://collector:4318`` → ``http://collector:4318/v1/traces`` (a full traces URL is kept)."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else endpoint + "/v1/traces"


def operation_of(path: str) -> str:
    if path == "/v1/embeddings":
        return "embeddings"
    if path == "/v1/web/search":
        return "execute_tool"
    return "chat"


class RequestTracer:
    def __init__(self, state: GatewayState, endpoint: str, service_name: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

        class ChosenIds(IdGenerator):
            """Hands the SDK the ids chosen while the request ran (then random ones again)."""

            def __init__(self) -> None:
                self.span_id = 0
                self.trace_id = 0
                self.random = RandomIdGenerator()

            def generate_span_id(self) -> int:
                value, self.span_id = self.span_id, 0
                return value or self.random.generate_span_id()

            def generate_trace_id(self) -> int:
                value, self.trace_id = self.trace_id, 0
                return value or self.random.generate_trace_id()

        self.state = state
        self.ids = ChosenIds()
        self.provider = TracerProvider(resource=Resource.create({"service.name": service_name}), id_generator=self.ids)
        self.provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url(endpoint)), schedule_delay_millis=EXPORT_DELAY_MS)
        )
        self.tracer = self.provider.get_tracer("meshapi_gateway")

    def _system(self, model: str | None) -> str | None:
        entry = self.state.catalog.get(model) if model else None
        return entry.provider if entry is not None else None

    def observe(self, rec: RequestRecord) -> None:
        trace = rec.trace
        if trace is None:
            return
        from opentelemetry import trace as api
        from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

        context = None
        if trace.parent_span_id is not None:
            parent = SpanContext(
                int(trace.trace_id, 16),
                int(trace.parent_span_id, 16),
                is_remote=True,
                trace_flags=TraceFlags(TraceFlags.SAMPLED if trace.sampled else 0),
            )
            context = api.set_span_in_context(NonRecordingSpan(parent))
        else:
            self.ids.trace_id = int(trace.trace_id, 16)
        operation = operation_of(rec.endpoint)
        start = int(rec.started * 1e9)
        end = start + int(rec.duration * 1e9)
        model = rec.model
        prompt, completion, _ = rec.tokens()
        cost = rec.cost
        attempts = [a for c in rec.calls for a in c.attempts]
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "http.request.method": rec.method,
            "url.path": rec.endpoint,
            "http.response.status_code": rec.status,
            "meshapi.request_id": rec.request_id,
            "meshapi.fallback": len({a.model for a in attempts}) > 1,
            "meshapi.attempts": len(attempts),
            "meshapi.streamed": rec.streamed,
            "gen_ai.usage.input_tokens": prompt,
            "gen_ai.usage.output_tokens": completion,
        }
        optional = {
            "gen_ai.system": self._system(model or rec.requested_model),
            "gen_ai.request.model": rec.requested_model,
            "gen_ai.response.model": model,
            "meshapi.owner": rec.owner,
            "meshapi.key_id": rec.key_id,
            "meshapi.team_id": rec.team,
            "meshapi.cost": None if cost is None else money(cost),
            "error.type": rec.error_code,
        }
        attributes.update({k: v for k, v in optional.items() if v is not None})
        if rec.finish_reasons:
            attributes["gen_ai.response.finish_reasons"] = tuple(rec.finish_reasons)
        self.ids.span_id = int(trace.span_id, 16)
        span = self.tracer.start_span(
            f"{operation} {model or rec.requested_model or ''}".strip(),
            context=context,
            kind=SpanKind.SERVER,
            attributes=attributes,
            start_time=start,
        )
        if rec.status >= 500:
            span.set_status(Status(StatusCode.ERROR, rec.error_code or str(rec.status)))
        child_context = api.set_span_in_context(span)
        # Each upstream request got a span id; with as many as attempts they pair up in order.
        sent = trace.upstream if len(trace.upstream) == len(attempts) else None
        at = start
        for i, attempt in enumerate(attempts):
            began = sent[i][1] if sent is not None else at
            if sent is not None:
                self.ids.span_id = int(sent[i][0], 16)
            child_attributes: dict[str, Any] = {
                "gen_ai.operation.name": operation,
                "gen_ai.request.model": attempt.model,
                "meshapi.deployment": attempt.deployment,
                "meshapi.outcome": attempt.outcome,
            }
            system = self._system(attempt.model)
            if system is not None:
                child_attributes["gen_ai.system"] = system
            if attempt.outcome != "ok":
                child_attributes["error.type"] = attempt.outcome
            child = self.tracer.start_span(
                f"{operation} {attempt.model}",
                context=child_context,
                kind=SpanKind.CLIENT,
                attributes=child_attributes,
                start_time=began,
            )
            if attempt.outcome != "ok":
                child.set_status(Status(StatusCode.ERROR, attempt.outcome))
            at = began + int(attempt.duration * 1e9)
            child.end(end_time=at)
        span.end(end_time=end)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.provider.shutdown)  # exports what is still queued


async def start_tracing(state: GatewayState) -> Callable[[], Awaitable[None]] | None:
    endpoint = state.settings.otel_endpoint
    if not endpoint:
        return None
    tracer = RequestTracer(state, endpoint, state.settings.otel_service_name)
    state.request_observers.append(tracer.observe)
    log.info("exporting traces to %s", traces_url(endpoint))
    return tracer.aclose
