"""Upgrades by worker version on a real dev server.

Version A runs an order and a bulk decision; version B is brought up beside it
and made current. The pinned batch finishes on A, new runs start on B, and the
long-lived order, auto-upgrading, moves from A to B at its next workflow task
and ends there, its history still replaying against the plain workflow.

The batch is held deterministically: after the order is waiting, A's worker is
replaced by one of the same version that polls workflow tasks only, so the
batch starts and is pinned on A while its activity (sending the decision)
waits for A's activity slots, which the test brings back at the end.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client as TemporalClient
from temporalio.client import WorkflowHistory
from temporalio.common import WorkerDeploymentVersion
from temporalio.worker import Replayer

from approvals.services import APPROVE
from orders import services
from orders.models import Order, Product
from temporal_bridge.approvals import calls as approval_calls
from temporal_bridge.approvals import messages as approval
from temporal_bridge.approvals.messages import BulkDecisionInput, BulkDecisionProgress
from temporal_bridge.client import queue_health, worker_status
from temporal_bridge.client.bridge import bridge
from temporal_bridge.client.connection import payload_converter
from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from temporal_bridge.order.workflow import OrderWorkflow
from temporal_bridge.runtime import versioning
from tests.integration.stack import WorkerThread
from tests.integration.test_lifecycle import finished, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class Rollout:
    """One deployment and task queue of its own on the session's dev server, and the workers started on it."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.name = f"order-desk-it-{uuid.uuid4().hex[:8]}"
        self.task_queue = f"it-{uuid.uuid4().hex[:8]}"
        self.workers: list[WorkerThread] = []

    def start(self, build: str, **options) -> WorkerThread:
        worker = WorkerThread(self.address, self.task_queue, version=WorkerDeploymentVersion(self.name, build), **options).start()
        self.workers.append(worker)
        return worker

    def make_current(self, build: str) -> None:
        async def step(client: TemporalClient) -> None:
            await versioning.wait_until_registered(client, self.name, build)
            await versioning.set_current(client, self.name, build, identity="test")

        bridge.call(step, timeout=40)


@pytest.fixture
def rollout(temporal_address, settings):
    settings.TEMPORAL_ADDRESS = temporal_address
    bridge.reset()
    plan = Rollout(temporal_address)
    settings.TEMPORAL_TASK_QUEUE = plan.task_queue
    settings.TEMPORAL_DEPLOYMENT_NAME = plan.name
    try:
        yield plan
    finally:
        for worker in plan.workers:
            worker.stop()
        bridge.reset()


def versioning_of(workflow_id: str) -> tuple[str, str]:
    """The run's versioning behaviour and the build id it is on, as `temporal workflow describe` shows them."""
    async def describe(client: TemporalClient) -> tuple[str, str]:
        info = (await client.get_workflow_handle(workflow_id).describe()).raw_description.workflow_execution_info.versioning_info
        behaviour = {1: "PINNED", 2: "AUTO_UPGRADE"}.get(info.behavior, "UNVERSIONED")
        return behaviour, info.deployment_version.build_id

    return bridge.call(describe, timeout=20)


def task_builds(workflow_id: str) -> tuple[list[str], WorkflowHistory]:
    """The build id of the worker that completed each workflow task, in order, and the run's history."""
    async def fetch(client: TemporalClient):
        return await client.get_workflow_handle(workflow_id).fetch_history()

    history = bridge.call(fetch, timeout=20)
    builds = [e.workflow_task_completed_event_attributes.deployment_version.build_id for e in history.events
              if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]
    failures = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    assert not failures, f"{workflow_id} had failed workflow tasks"
    return builds, history


def run_status(workflow_id: str) -> str:
    """RUNNING, COMPLETED, ...: from the server alone, no worker needed (a query would wait for one)."""
    async def describe(client: TemporalClient) -> str:
        return (await client.get_workflow_handle(workflow_id).describe()).status.name

    return bridge.call(describe, timeout=20)


def batch_progress(batch_id: str) -> BulkDecisionProgress:
    return approval_calls.bulk_decision_progress(batch_id, timeout=5)


def deployment_status() -> str:
    out = StringIO()
    call_command("deployment", "status", stdout=out)
    return out.getvalue()


def test_pinned_batches_finish_on_their_version_while_new_runs_start_on_the_new_one_and_orders_move_to_it(
    rollout, settings, policies, customer, clerk, manager,
):
    settings.ORDER_FULFILMENT_STEPS = 1
    lamp = Product.objects.create(sku="LAMP-V", name="Lamp", price=Decimal("600.00"), stock_on_hand=50)

    def submit() -> Order:
        order = services.order_submit(customer=customer, lines=[services.LineRequest(lamp, 2)], created_by=clerk,
                                      shipping_address="1 Main St")
        # The deadline is written with the order now: its first workflow task says the workflow waits.
        wait_for(lambda: task_builds(m.workflow_id_for(order.pk))[0], what="the order waiting for a decision")
        return order

    # Version A is current; an order starts on it and waits for a manager.
    worker_a = rollout.start("build-a")
    rollout.make_current("build-a")
    order = submit()
    order_id = m.workflow_id_for(order.pk)
    assert versioning_of(order_id) == ("AUTO_UPGRADE", "build-a")

    # A keeps taking workflow tasks, but its activities are held back: a
    # batch approving the order starts, is pinned to A, and waits to send.
    worker_a.stop()
    rollout.start("build-a", activities=[])
    held = f"held-{uuid.uuid4().hex[:8]}"
    assert approval_calls.start_bulk_decision(BulkDecisionInput(held, "manager", APPROVE, "", [order.pk]))
    wait_for(lambda: versioning_of(approval.bulk_workflow_id(held)) == ("PINNED", "build-a"), what="the batch pinned to A")

    # B comes up beside A, is ramped, then made current, as an operator would (the command).
    rollout.start("build-b")
    wait_for(lambda: "build-b" in deployment_status(), what="B registered")
    out = StringIO()
    call_command("deployment", "ramp", "build-b", "25", stdout=out)
    assert "build-b at 25%" in out.getvalue()
    call_command("deployment", "set-current", "build-b", stdout=out)
    status = deployment_status()
    assert "current: build-b" in status and "ramping: none" in status and "build-a:" in status
    # The task queue's description (the banner's and /healthz's source) lists the versioned pollers.
    assert {p.queue_type for p in queue_health.task_queue_pollers().pollers} == {"workflow", "activity"}

    # New runs start on B: a batch that finishes there, and a new order.
    fresh = f"fresh-{uuid.uuid4().hex[:8]}"
    assert approval_calls.start_bulk_decision(BulkDecisionInput(fresh, "manager", APPROVE, "", [987654321]))
    wait_for(lambda: batch_progress(fresh).finished, what="the new batch finished")
    assert batch_progress(fresh).results[0].outcome == approval.BULK_REFUSED  # no such order: sent nowhere, finished
    assert set(task_builds(approval.bulk_workflow_id(fresh))[0]) == {"build-b"}
    second = submit()
    assert versioning_of(m.workflow_id_for(second.pk)) == ("AUTO_UPGRADE", "build-b")

    # The pinned batch did not move: still on A, nothing sent while B did all that.
    assert versioning_of(approval.bulk_workflow_id(held)) == ("PINNED", "build-a")
    assert batch_progress(held).results == []
    assert Order.objects.get(pk=order.pk).status == states.PENDING_APPROVAL

    # A's activities return: the batch finishes on A and approves the order,
    # whose next workflow task runs on B; it ends there, fulfilled.
    rollout.start("build-a")
    wait_for(lambda: batch_progress(held).finished, what="the pinned batch finished")
    assert batch_progress(held).results[0].outcome == approval.BULK_SENT
    builds, _ = task_builds(approval.bulk_workflow_id(held))
    assert set(builds) == {"build-a"}
    assert finished(order.pk).state == states.FULFILLED
    assert versioning_of(order_id) == ("AUTO_UPGRADE", "build-b")
    builds, history = task_builds(order_id)
    assert builds[0] == "build-a" and builds[-1] == "build-b" and builds == sorted(builds)

    # The plain OrderWorkflow replays the history two versions wrote: its
    # changes still go behind patches, and the replay tests guard them.
    # Through the desk's codec, as every client reads the (encrypted) history.
    replayer = Replayer(workflows=[OrderWorkflow], data_converter=payload_converter())
    result = asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=False))
    assert result.replay_failure is None


def test_the_development_worker_makes_its_version_current_and_takes_the_runs_started_before(temporal_address, settings):
    """What `make run` does: runworker --versioning --make-current, as a process, with DEBUG."""
    settings.TEMPORAL_ADDRESS = temporal_address
    settings.TEMPORAL_TASK_QUEUE = task_queue = f"it-{uuid.uuid4().hex[:8]}"
    settings.TEMPORAL_DEPLOYMENT_NAME = name = f"order-desk-dev-{uuid.uuid4().hex[:8]}"
    bridge.reset()
    # Started before any version is current: it waits on the unversioned queue until the worker's change routes it.
    early = f"early-{uuid.uuid4().hex[:8]}"
    assert approval_calls.start_bulk_decision(BulkDecisionInput(early, "manager", APPROVE, "", []))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "DJANGO_DEBUG": "1", "TEMPORAL_ADDRESS": temporal_address,
           "TEMPORAL_DEPLOYMENT_NAME": name, "ORDER_DESK_BUILD_ID": "dev-1", "PYTHONUNBUFFERED": "1"}
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "runworker", "--task-queue", task_queue, "--concurrency", "2", "--versioning", "--make-current"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_for(lambda: run_status(approval.bulk_workflow_id(early)) == "COMPLETED", timeout=60, what="the early batch finished")
        assert versioning_of(approval.bulk_workflow_id(early)) == ("PINNED", "dev-1")
        # The banner's check (worker heartbeats) counts a versioned worker as running.
        wait_for(lambda: worker_status.check_workers().running, what="the worker seen running")
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
        bridge.reset()
    assert f"version {name}.dev-1" in output and f"Version {name}.dev-1 is now current (was unversioned)" in output, output
    assert "Traceback" not in output
