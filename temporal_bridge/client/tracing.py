"""Optional OpenTelemetry tracing (OTEL_ENABLED=1): temporalio.contrib.opentelemetry's
TracingInterceptor on the process's client, and so on the workers built on it.

The opentelemetry packages are optional, so they are imported only when tracing
is on; asking for tracing without them is a clear startup error.
"""
from __future__ import annotations

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

OTEL_MISSING = (
    "OTEL_ENABLED=1 needs the OpenTelemetry packages, which requirements.txt does not install: "
    "pip install opentelemetry-api opentelemetry-sdk (and an exporter, e.g. opentelemetry-exporter-otlp), "
    "or unset OTEL_ENABLED."
)


def check_tracing_available() -> None:
    """Raise ImproperlyConfigured with what to install, if tracing is on and cannot work."""
    if not settings.OTEL_ENABLED:
        return
    try:
        import opentelemetry.trace  # noqa: F401
        from temporalio.contrib.opentelemetry import TracingInterceptor  # noqa: F401
    except ImportError as err:
        raise ImproperlyConfigured(f"{OTEL_MISSING} ({err})") from err


def tracing_interceptors() -> list:
    """The interceptors to pass to Client.connect (workers built on the client inherit them)."""
    if not settings.OTEL_ENABLED:
        return []
    check_tracing_available()
    from temporalio.contrib.opentelemetry import TracingInterceptor

    _configure_tracer_provider()
    return [TracingInterceptor()]


def _configure_tracer_provider() -> None:
    """A tracer provider exporting spans, unless one is set already (e.g. by opentelemetry-instrument).

    OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set (needs opentelemetry-exporter-otlp),
    the console when OTEL_TRACES_EXPORTER=console; the service is OTEL_SERVICE_NAME.
    """
    from opentelemetry import trace

    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError as err:
        raise ImproperlyConfigured(f"{OTEL_MISSING} ({err})") from err
    provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "order-desk")}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as err:
            raise ImproperlyConfigured(
                f"OTEL_EXPORTER_OTLP_ENDPOINT is set: pip install opentelemetry-exporter-otlp-proto-http ({err})"
            ) from err
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif os.environ.get("OTEL_TRACES_EXPORTER", "").lower() == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
