"""The worker's Temporal runtime (metrics, heartbeats, core logs) and optional tracing.

- Metrics: the SDK core exports Prometheus metrics on a private loopback port;
  temporal_bridge.runtime.metrics serves them with the desk's own on --metrics-port.
- Worker heartbeats: every WORKER_HEARTBEAT_SECONDS the worker reports to the
  server, which is how the pages notice a stopped worker within seconds.
- The core's own log lines go through Python logging (so LOG_FORMAT=json holds).
- OpenTelemetry tracing (OTEL_ENABLED=1): temporalio.contrib.opentelemetry's
  TracingInterceptor on the clients and workers. The opentelemetry packages are
  optional; asking for tracing without them is a clear startup error.
"""
from __future__ import annotations

import logging
import socket
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from temporalio.runtime import LogForwardingConfig, LoggingConfig, PrometheusConfig, Runtime, TelemetryConfig, TelemetryFilter

OTEL_MISSING = (
    "OTEL_ENABLED=1 needs the OpenTelemetry packages, which requirements.txt does not install: "
    "pip install opentelemetry-api opentelemetry-sdk (and an exporter, e.g. opentelemetry-exporter-otlp), "
    "or unset OTEL_ENABLED."
)


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_runtime(*, sdk_metrics_port: int | None, heartbeat_seconds: float) -> Runtime:
    """A runtime for one worker process; `sdk_metrics_port` None: no SDK metrics."""
    metrics = PrometheusConfig(bind_address=f"127.0.0.1:{sdk_metrics_port}", durations_as_seconds=True) if sdk_metrics_port else None
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=metrics,
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
            ),
        ),
        worker_heartbeat_interval=timedelta(seconds=max(1.0, min(60.0, heartbeat_seconds))),
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
    import os

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
