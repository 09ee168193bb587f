"""OpenTelemetry traces: one trace per request, whose trace id is the
request id, from the front through the front door, the request's workflow
and its activities into the Func.

- The nginx front builds a W3C ``traceparent`` from the request id and
  sends it in the envelope (and, on its fallback path, in the workflow's
  ``_tracer-data`` header); a source without one (the queue, `invoke`)
  gets the same from ``request_span``.
- Temporal's ``TracingInterceptor`` (temporalio.contrib.opentelemetry)
  carries the context through workflow and activity headers.
- The Runner wraps each Func call in a span (``func_span``).

Off unless configured by the standard variables: ``OTEL_TRACES_EXPORTER``
(otlp or console) or an OTLP endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``; OTLP over HTTP/protobuf), with
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_BSP_*`` and the
rest read by the SDK itself; ``OTEL_SDK_DISABLED=true`` turns it off. Off,
nothing of OpenTelemetry is imported and no interceptor runs.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
from collections.abc import Iterator
from typing import Any

from funcatron_wf.engine.contracts import FuncCall, RequestEnvelope
from funcatron_wf.engine.errors import ConfigError

logger = logging.getLogger(__name__)

_provider: Any = None  # the SDK's TracerProvider, once configured in this process
TRACE_FLAGS_SAMPLED = "01"


def tracing_wanted() -> bool:
    """Whether the OTEL_* environment asks for traces."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def tracing_on() -> bool:
    return _provider is not None


def configure_tracing(service_name: str) -> bool:
    """Set up this process's tracer provider when the environment asks for
    traces (``service_name`` unless OTEL_SERVICE_NAME names it); True if on."""
    global _provider
    if _provider is not None or not tracing_wanted():
        return _provider is not None
    from opentelemetry import trace
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    exporters: list[SpanExporter] = []
    for name in (os.environ.get("OTEL_TRACES_EXPORTER") or "otlp").lower().split(","):
        name = name.strip()
        if name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name == "otlp":
            exporters.append(_otlp_exporter())
        elif name != "none":
            raise ConfigError(
                f"OTEL_TRACES_EXPORTER={name!r}: funcatron-wf exports otlp or console"
            )
    resource = Resource.create({"service.name": service_name}).merge(
        OTELResourceDetector().detect()
    )
    if os.environ.get("OTEL_SERVICE_NAME"):
        resource = resource.merge(
            Resource.create({"service.name": os.environ["OTEL_SERVICE_NAME"]})
        )
    provider = TracerProvider(resource=resource, id_generator=_request_trace_ids())
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _provider = provider
    logger.info(
        "tracing on: %s spans as %s", "+".join(type(e).__name__ for e in exporters), service_name
    )
    return True


# The trace id a span started here without a parent takes: the request's id.
_trace_id_of_next_root: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "funcatron_trace_id", default=None
)


def _request_trace_ids() -> Any:
    """The SDK's random ids, but a request's root span takes the request id."""
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class RequestTraceIds(RandomIdGenerator):
        def generate_trace_id(self) -> int:
            wanted = _trace_id_of_next_root.get()
            return wanted if wanted is not None else super().generate_trace_id()

    return RequestTraceIds()


def _otlp_exporter() -> Any:
    for variable in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = os.environ.get(variable, "")
        if protocol and protocol != "http/protobuf":
            raise ConfigError(
                f"{variable}={protocol!r}: funcatron-wf exports OTLP over "
                "http/protobuf (a collector's port 4318)"
            )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout: from OTEL_EXPORTER_OTLP_*


def shutdown_tracing() -> None:
    """Export what is buffered (a process's last spans) and stop."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


def client_interceptors() -> list[Any]:
    """The Temporal client's (and so its workers') interceptors: tracing's when on."""
    if not tracing_on():
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


def traceparent_of(request_id: str) -> str:
    """The W3C traceparent the nginx front builds: trace id = request id,
    parent span id = the id's second half (the front exports no span)."""
    return f"00-{request_id}-{request_id[16:]}-{TRACE_FLAGS_SAMPLED}"


@contextlib.contextmanager
def request_span(name: str, request: RequestEnvelope) -> Iterator[str | None]:
    """A source's span for one request, current inside: the root of the
    request's trace (trace id = request id), or a child of the request's
    ``traceparent`` when one came from a real parent span (the nginx front's
    own, made from the request id, stands for no exported span). Yields the
    span's own traceparent, for an envelope handed on (None: tracing is off,
    and nothing is computed)."""
    if not tracing_on():
        yield None
        return
    from opentelemetry import context, trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    request_id, traceparent = request.request_id, request.traceparent
    propagator = TraceContextTextMapPropagator()
    if traceparent is None or traceparent == traceparent_of(request_id):
        parent = context.Context()  # no parent: this span is the trace's root
    else:
        parent = propagator.extract({"traceparent": traceparent})
    token = context.attach(parent)
    wanted = _trace_id_of_next_root.set(int(request_id, 16))
    still_wanted = True
    try:
        with trace.get_tracer("funcatron_wf").start_as_current_span(
            name,
            kind=trace.SpanKind.SERVER,
            # OpenTelemetry's HTTP names where they fit
            attributes={
                "funcatron.request_id": request_id,
                "http.request.method": request.method,
                "server.address": request.host,
                "url.path": request.path,
                "funcatron.source": request.source,
            },
        ):
            _trace_id_of_next_root.reset(wanted)  # only this span's trace is the request's
            still_wanted = False
            carrier: dict[str, str] = {}
            propagator.inject(carrier)
            yield carrier.get("traceparent")
    finally:
        if still_wanted:
            _trace_id_of_next_root.reset(wanted)
        context.detach(token)


@contextlib.contextmanager
def func_span(call: FuncCall) -> Iterator[Any]:
    """A Func call's span in the Runner, a child of the activity's; yields
    the span (to add its status), or None when tracing is off."""
    if not tracing_on():
        yield None
        return
    from opentelemetry import trace

    attributes: dict[str, str | int] = {
        "funcatron.request_id": call.request.request_id,
        "funcatron.func": call.func.name,
        "funcatron.sha": call.func.sha,
        "funcatron.operation": call.func.operation,
        "funcatron.attempt": call.request.attempt,
    }
    name = f"func {call.func.name}:{call.func.operation}"
    with trace.get_tracer("funcatron_wf").start_as_current_span(name, attributes=attributes) as one:
        yield one
