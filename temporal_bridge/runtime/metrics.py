"""The worker's Prometheus metrics: the desk's own, and the SDK's beside them.

The desk's metrics are prometheus_client collectors in this process. The
SDK's (task latencies, slots, polls, failures as the Rust core sees them) are
served by the core's own Prometheus exporter, which runworker binds to a
private loopback port; the endpoint on --metrics-port answers with both, so
one scrape target per worker gives everything.
"""
from __future__ import annotations

import logging
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import REGISTRY, Counter, generate_latest
from temporalio import activity, worker
from temporalio.exceptions import ApplicationError, CancelledError

log = logging.getLogger(__name__)

ACTIVITY_FAILURES = Counter(
    "orderdesk_activity_failures", "Activity attempts that ended in an error (retried or not), by activity and error type.",
    ["activity", "error_type"],
)


class MetricsInterceptor(worker.Interceptor):
    """Counts failed activity attempts (cancellation is not a failure)."""

    def intercept_activity(self, next: worker.ActivityInboundInterceptor) -> worker.ActivityInboundInterceptor:
        return _CountFailures(next)


class _CountFailures(worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: worker.ExecuteActivityInput):
        try:
            return await super().execute_activity(input)
        except (CancelledError, activity._CompleteAsyncError):  # noqa: SLF001 - cancelled, or completed elsewhere: no failure
            raise
        except Exception as err:  # asyncio.CancelledError is a BaseException: not counted either
            error_type = err.type if isinstance(err, ApplicationError) and err.type else type(err).__name__
            ACTIVITY_FAILURES.labels(activity.info().activity_type, error_type).inc()
            raise


class MetricsServer:
    """GET /metrics: this process's collectors, then the SDK core's exposition."""

    def __init__(self, host: str, port: int, *, sdk_metrics_url: str | None) -> None:
        sdk_url = sdk_metrics_url

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.split("?")[0] not in ("/metrics", "/"):
                    self.send_error(404)
                    return
                body = generate_latest(REGISTRY) + _sdk_metrics(sdk_url)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:  # scrapes every few seconds: not worth a log line
                return

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="metrics-http", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _sdk_metrics(url: str | None) -> bytes:
    if not url:
        return b""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own loopback endpoint
            return response.read()
    except OSError as err:
        return f"# Temporal SDK metrics unavailable: {err}\n".encode()
