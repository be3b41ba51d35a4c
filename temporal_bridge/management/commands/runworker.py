"""manage.py runworker: run the Temporal worker for order workflows and activities."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand
from django.db import connections
from temporalio.client import Client

from temporal_bridge.connection import connect_kwargs
from temporal_bridge.worker import build_worker

log = logging.getLogger("temporal_bridge.worker")


class Command(BaseCommand):
    help = "Run a Temporal worker for the order workflows. Stops gracefully on SIGINT/SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--task-queue", default=settings.TEMPORAL_TASK_QUEUE, help="Task queue to poll (default: %(default)s).")
        parser.add_argument("--concurrency", type=int, default=20, help="Activity slots, and threads in the activity pool (default: %(default)s).")
        parser.add_argument("--workflow-concurrency", type=int, default=20, help="Workflow task slots (default: %(default)s).")
        parser.add_argument("--address", default=settings.TEMPORAL_ADDRESS, help="Temporal frontend host:port (default: %(default)s).")
        parser.add_argument("--namespace", default=settings.TEMPORAL_NAMESPACE, help="Temporal namespace (default: %(default)s).")

    def handle(self, *args, **options):
        if options["concurrency"] < 1 or options["workflow_concurrency"] < 1:
            self.stderr.write("--concurrency and --workflow-concurrency must be at least 1")
            raise SystemExit(2)
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
        client = await Client.connect(options["address"], **options["connect_kwargs"])
        worker, executor = build_worker(
            client,
            task_queue=options["task_queue"],
            max_concurrent_activities=options["concurrency"],
            max_concurrent_workflow_tasks=options["workflow_concurrency"],
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)

        self.stdout.write(
            f"Worker polling task queue '{options['task_queue']}' on {options['address']} "
            f"(namespace {options['namespace']}, {options['concurrency']} activity slots). Ctrl-C stops."
        )
        async with worker:
            await stop.wait()
            self.stdout.write("Stopping: finishing running activities…")
        executor.shutdown(wait=True)
        self.stdout.write("Worker stopped.")
