"""Building the order worker: workflows, activities and the thread pool they need."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.worker import Worker, WorkerDeploymentConfig

from temporal_bridge.approvals.activities import APPROVAL_ACTIVITIES
from temporal_bridge.approvals.workflows import APPROVAL_WORKFLOWS
from temporal_bridge.order.activities import ALL_ACTIVITIES
from temporal_bridge.order.workflow import OrderWorkflow
from temporal_bridge.runtime.metrics import MetricsInterceptor
from temporal_bridge.runtime.sandbox import workflow_runner
from temporal_bridge.runtime.versioned_workflows import VERSIONED_WORKFLOWS
from temporal_bridge.shipment.activities import SHIPMENT_ACTIVITIES
from temporal_bridge.shipment.workflow import ShipmentWorkflow

# Every workflow this worker runs; check_replay replays histories against these.
WORKFLOWS: list[type] = [OrderWorkflow, ShipmentWorkflow, *APPROVAL_WORKFLOWS]
ACTIVITIES: list = [*ALL_ACTIVITIES, *APPROVAL_ACTIVITIES, *SHIPMENT_ACTIVITIES]


def build_worker(
    client: Client,
    *,
    task_queue: str,
    max_concurrent_activities: int = 20,
    max_concurrent_workflow_tasks: int = 20,
    identity: str | None = None,
    graceful_shutdown_seconds: float = 20.0,
    workflows: list[type] | None = None,
    activities: list | None = None,
    version: WorkerDeploymentVersion | None = None,
    **worker_options: Any,
) -> tuple[Worker, ThreadPoolExecutor]:
    """A worker for the order workflows. The caller shuts the executor down after the worker.

    The thread pool is sized to the activity slots: every slot can run a sync
    activity, and no thread sits idle beyond them.

    With a `version` the worker is versioned (temporal_bridge/runtime/versioning.py):
    it announces that version and registers the workflows with their
    versioning behaviours (versioned_workflows.py); without, it takes the
    task queue's unversioned work as before.
    """
    if version is not None:
        # No default behaviour: the SDK refuses a workflow that declares none,
        # so a new workflow cannot join a versioned worker unversioned.
        worker_options["deployment_config"] = WorkerDeploymentConfig(version=version, use_worker_versioning=True)
    # The message modules are shared, not re-imported for every order (sandbox.py says why).
    worker_options.setdefault("workflow_runner", workflow_runner())
    executor = ThreadPoolExecutor(max_workers=max_concurrent_activities, thread_name_prefix="activity")
    worker = Worker(
        client,
        task_queue=task_queue,
        # Another set only for the upgrade test, which runs a released version.
        workflows=workflows or (VERSIONED_WORKFLOWS if version is not None else WORKFLOWS),
        # [] polls workflow tasks only: the versioning test holds a version's activities back with it.
        activities=ACTIVITIES if activities is None else activities,
        activity_executor=executor,
        max_concurrent_activities=max_concurrent_activities,
        max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
        identity=identity or f"order-desk@{socket.gethostname()}:{os.getpid()}",
        # Let running activities (a fulfilment step, a payment) finish on SIGTERM.
        graceful_shutdown_timeout=timedelta(seconds=graceful_shutdown_seconds),
        # Counts failed activity attempts for the worker's metrics.
        interceptors=[MetricsInterceptor()],
        **worker_options,
    )
    return worker, executor


async def run_until_stopped(worker: Worker, executor: ThreadPoolExecutor, *, on_stopping: Callable[[], None] | None = None) -> None:
    """Run `worker` until SIGINT or SIGTERM, then drain it and its thread pool.

    Stopping lets running activities finish (up to the worker's graceful
    shutdown timeout) before the pool's threads are joined.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with worker:
        await stop.wait()
        if on_stopping is not None:
            on_stopping()
    executor.shutdown(wait=True)
