"""The worker's Temporal runtime: metrics, heartbeats, core logs.

- Metrics: the SDK core exports Prometheus metrics on a private loopback port;
  temporal_bridge.runtime.metrics serves them with the desk's own on --metrics-port.
- Worker heartbeats: every WORKER_HEARTBEAT_SECONDS the worker reports to the
  server, which is how the pages notice a stopped worker within seconds.
- The core's own log lines go through Python logging (so LOG_FORMAT=json holds).
Tracing is the client's (temporal_bridge.client.tracing): workers built on the
client inherit its interceptors.
"""
from __future__ import annotations

import logging
import socket
from datetime import timedelta

from temporalio.runtime import LogForwardingConfig, LoggingConfig, PrometheusConfig, Runtime, TelemetryConfig, TelemetryFilter


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
