"""manage.py runworker: run the Temporal worker for order workflows and activities."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand
from django.db import connections
from temporalio.client import Client
from temporalio.service import RPCError

from temporal_bridge.client.connection import connect_kwargs
from temporal_bridge.runtime import versioning
from temporal_bridge.runtime.metrics import MetricsServer
from temporal_bridge.runtime.telemetry import build_runtime, free_loopback_port
from temporal_bridge.runtime.worker import build_worker, run_until_stopped

log = logging.getLogger("temporal_bridge.runtime.worker")


class Command(BaseCommand):
    help = "Run a Temporal worker for the order workflows. Stops gracefully on SIGINT/SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--task-queue", default=settings.TEMPORAL_TASK_QUEUE, help="Task queue to poll (default: %(default)s).")
        parser.add_argument(
            "--concurrency", type=int, default=20, help="Activity slots, and threads in the activity pool (default: %(default)s).",
        )
        parser.add_argument("--workflow-concurrency", type=int, default=20, help="Workflow task slots (default: %(default)s).")
        parser.add_argument("--address", default=settings.TEMPORAL_ADDRESS, help="Temporal frontend host:port (default: %(default)s).")
        parser.add_argument("--namespace", default=settings.TEMPORAL_NAMESPACE, help="Temporal namespace (default: %(default)s).")
        parser.add_argument(
            "--metrics-port", type=int, default=settings.WORKER_METRICS_PORT,
            help="Serve Prometheus metrics (SDK and desk) on this port; 0 = off (default: %(default)s, from WORKER_METRICS_PORT).",
        )
        parser.add_argument(
            "--metrics-host", default=settings.WORKER_METRICS_HOST, help="Address the metrics endpoint binds to (default: %(default)s).",
        )
        parser.add_argument(
            "--versioning", action=argparse.BooleanOptionalAction, default=settings.TEMPORAL_WORKER_VERSIONING,
            help="Announce a worker deployment version and take only the runs Temporal routes to it "
                 "(default: %(default)s, from TEMPORAL_WORKER_VERSIONING). See docs/deployment.md.",
        )
        parser.add_argument(
            "--build-id", default="", help="Build id to announce (default: ORDER_DESK_BUILD_ID, else a digest of the workflow code).",
        )
        parser.add_argument(
            "--make-current", action="store_true",
            help="Development only (DJANGO_DEBUG): once polling, make this worker's version the current one. "
                 "A real rollout does that step explicitly: `manage.py deployment set-current`.",
        )

    def handle(self, *args, **options):
        if options["concurrency"] < 1 or options["workflow_concurrency"] < 1:
            self.stderr.write("--concurrency and --workflow-concurrency must be at least 1")
            raise SystemExit(2)
        if not 0 <= options["metrics_port"] <= 65535:
            self.stderr.write("--metrics-port must be a port number, or 0 for no metrics endpoint")
            raise SystemExit(2)
        options["version"] = None
        if options["make_current"] and not (settings.DEBUG and options["versioning"]):
            self.stderr.write(
                "--make-current needs --versioning and DJANGO_DEBUG; in production run `manage.py deployment set-current BUILD_ID`.",
            )
            raise SystemExit(2)
        if options["versioning"]:
            try:
                options["version"] = versioning.worker_version(options["build_id"].strip() or None)
            except versioning.DeploymentError as err:
                self.stderr.write(str(err))
                raise SystemExit(2) from err
        try:
            options["connect_kwargs"] = connect_kwargs(namespace=options["namespace"])
        except ImproperlyConfigured as err:  # a TLS/API key setting an operator must fix
            self.stderr.write(f"Cannot connect to Temporal: {err}")
            raise SystemExit(2) from err
        asyncio.run(self._run(options))
        # Everything is shut down by now (worker drained, activity pool joined).
        # Skip interpreter finalization: the SDK's Rust runtime threads can
        # call into Python while it is finalizing, which aborts the process
        # (SIGABRT, "PyGILState_Release ... must be current") and turns a clean
        # stop into a crash that supervisors report and restart.
        connections.close_all()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    async def _run(self, options) -> None:
        metrics_server = None
        sdk_port = free_loopback_port() if options["metrics_port"] else None
        # One runtime per worker process: SDK metrics, worker heartbeats (how the
        # pages notice a stopped worker), the core's logs through Python logging.
        runtime = build_runtime(sdk_metrics_port=sdk_port, heartbeat_seconds=settings.WORKER_HEARTBEAT_SECONDS)
        client = await Client.connect(options["address"], runtime=runtime, **options["connect_kwargs"])
        if options["metrics_port"]:
            try:
                metrics_server = MetricsServer(options["metrics_host"], options["metrics_port"], sdk_metrics_url=f"http://127.0.0.1:{sdk_port}/metrics").start()
            except OSError as err:
                self.stderr.write(f"Cannot serve metrics on {options['metrics_host']}:{options['metrics_port']}: {err}")
                raise SystemExit(2) from err
            self.stdout.write(f"Metrics on http://{options['metrics_host']}:{metrics_server.port}/metrics")
        worker, executor = build_worker(
            client,
            task_queue=options["task_queue"],
            max_concurrent_activities=options["concurrency"],
            max_concurrent_workflow_tasks=options["workflow_concurrency"],
            version=options["version"],
        )
        version = options["version"]
        self.stdout.write(
            f"Worker polling task queue '{options['task_queue']}' on {options['address']} "
            f"(namespace {options['namespace']}, {options['concurrency']} activity slots"
            + (f", version {version.to_canonical_string()}" if version else ", unversioned") + "). Ctrl-C stops."
        )
        if options["make_current"]:
            # Kept referenced until the worker stops: the loop holds tasks only weakly.
            self._make_current_task = asyncio.create_task(self._make_current(client, version))
        await run_until_stopped(worker, executor, on_stopping=lambda: self.stdout.write("Stopping: finishing running activities…"))
        if metrics_server is not None:
            metrics_server.stop()
        self.stdout.write("Worker stopped.")

    async def _make_current(self, client: Client, version) -> None:
        # After the worker's first polls have registered its version; a
        # failure leaves the worker running (it still serves pinned runs) and says why.
        name, build = version.deployment_name, version.build_id
        try:
            status = await versioning.wait_until_registered(client, name, build)
            if status.current_build_id == build:
                self.stdout.write(f"Version {name}.{build} is already current.")
                return
            previous = await versioning.set_current(client, name, build, identity=f"runworker --make-current (pid {os.getpid()})")
            self.stdout.write(f"Version {name}.{build} is now current (was {previous or 'unversioned'}); new runs start on it.")
        except (versioning.DeploymentError, RPCError) as err:
            # Several workers of `make run WORKERS=3` race to the same change: one winning is enough.
            try:
                status = await versioning.describe(client, name)
            except RPCError:
                status = None
            if status is not None and status.current_build_id == build:
                self.stdout.write(f"Version {name}.{build} is current.")
                return
            self.stderr.write(f"Could not make {name}.{build} current: {err}")
