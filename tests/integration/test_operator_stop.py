"""Operators' actions are visible, on a real Temporal dev server and worker.

An operator terminates an order's workflow with the Temporal client: the
page, the API, the list and reconcile show it stopped with the reason and
offer nothing. A workflow that cannot answer (no worker, a worker that cannot
run it) gives 200s with a notice naming the problem, and /ops/ lists it. A
reset goes on in its new run and is not a stop.
"""
from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client as Browser
from temporalio import workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from orders import roles, services
from orders.models import Order
from orders.operations.reconcile import reconcile
from orders.selectors import LIVE_FAILURES_KEY, order_live_state
from temporal_bridge.client.bridge import bridge
from temporal_bridge.client.connection import connect_kwargs
from temporal_bridge.client.worker_status import forget_worker_check
from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from temporal_bridge.order import status as workflow_status
from tests.conftest import make_user
from tests.integration.test_lifecycle import finished, snapshot_state, submit, wait_for
from tests.orders.api.test_api import ApiClient, issue_key

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REASON = "Duplicate of another order; stopped by ops"


@pytest.fixture(autouse=True)
def _fresh_caches():
    cache.delete(LIVE_FAILURES_KEY)
    forget_worker_check()
    yield
    cache.delete(LIVE_FAILURES_KEY)


def pending(order: Order) -> Order:
    wait_for(lambda: snapshot_state(order.pk, states.PENDING_APPROVAL), what="pending approval")
    return order


def test_terminating_a_pending_orders_workflow_shows_it_stopped_with_the_reason_everywhere(stack, manager, customer, server):
    shop = make_user("shop-bot", roles.STOREFRONTS)
    order = pending(submit(shop, customer, server, 2))  # 2000.00: waits for a manager

    async def terminate(client: Client) -> None:
        await client.get_workflow_handle(m.workflow_id_for(order.pk)).terminate(reason=REASON)

    bridge.call(terminate)

    browser = Browser()
    browser.force_login(manager)
    response = browser.get(order.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-state="stopped"' in html and "● live" not in html
    assert f": {REASON}" in html and "Stopped by an operator: terminated by " in html
    assert ">Approve</button>" not in html and "Cancel order</button>" not in html

    response = browser.post(f"/orders/{order.pk}/approve/", {"request_id": uuid.uuid4().hex}, HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    assert "is stopped" in response.content.decode()

    body = ApiClient(issue_key(shop)).get(f"/orders/{order.number}").json()
    assert body["status"] == "stopped" and REASON in body["failure_reason"] and body["can_cancel"] is False

    listed = browser.get("/orders/?status=stopped").content.decode()
    assert order.number in listed and REASON[:40] in listed

    report = reconcile(min_age=timedelta(0))
    assert order.number not in [number for number, _ in report.stuck + report.stopped]
    order.refresh_from_db()
    assert order.status == states.STOPPED and REASON in order.failure_reason


def test_reconcile_finds_a_terminated_workflow_nobody_looked_at(stack, clerk, customer, server):
    order = pending(submit(clerk, customer, server, 2))
    bridge.call(lambda client: client.get_workflow_handle(m.workflow_id_for(order.pk)).terminate(reason=REASON))

    report = reconcile(min_age=timedelta(0))

    assert [(number, why.split(": ", 1)[1]) for number, why in report.stopped] == [(order.number, REASON)]
    assert Order.objects.get(pk=order.pk).status == states.STOPPED


def test_a_reset_goes_on_in_its_new_run_and_is_not_a_stop(stack, clerk, manager, customer, server):
    order = pending(submit(clerk, customer, server, 2))
    workflow_id = m.workflow_id_for(order.pk)

    async def reset(client: Client) -> str:
        handle = client.get_workflow_handle(workflow_id)
        first_task = [e.event_id async for e in handle.fetch_history_events()
                      if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED][0]
        description = await handle.describe()
        response = await client.workflow_service.reset_workflow_execution(ResetWorkflowExecutionRequest(
            namespace=client.namespace, workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=description.run_id),
            workflow_task_finish_event_id=first_task, request_id=uuid.uuid4().hex, reason="ops: replay from the start",
        ))
        return response.run_id

    new_run = bridge.call(reset)
    assert workflow_status.describe_order(order.pk).run_id == new_run

    live = order_live_state(Order.objects.get(pk=order.pk), fresh=True)
    assert (live.source, live.snapshot.state) == ("workflow", states.PENDING_APPROVAL)
    assert reconcile(min_age=timedelta(0)).stopped == []
    browser = Browser()
    browser.force_login(manager)
    html = browser.get(order.get_absolute_url()).content.decode()
    assert ">Approve</button>" in html and "● live" in html

    # And the new run takes the decision to the end.
    response = browser.post(f"/orders/{order.pk}/approve/", {"request_id": uuid.uuid4().hex}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert finished(order.pk).state == states.FULFILLED
    wait_for(lambda: Order.objects.get(pk=order.pk).status == states.FULFILLED, what="the mirror to follow")


@pytest.fixture
def nobody_polls(temporal_address, settings):
    settings.TEMPORAL_ADDRESS = temporal_address
    settings.TEMPORAL_TASK_QUEUE = f"nobody-{uuid.uuid4().hex[:8]}"
    settings.TEMPORAL_QUERY_TIMEOUT = 1.0
    bridge.reset()
    yield settings.TEMPORAL_TASK_QUEUE
    bridge.reset()


def test_no_worker_polling_gives_200s_that_say_so_and_the_ops_page_lists_the_order(nobody_polls, manager, customer, server):
    shop = make_user("shop-bot", roles.STOREFRONTS)
    order = services.order_submit(customer=customer, lines=[services.LineRequest(server, 1)], created_by=shop, shipping_address="1 Main St")
    browser = Browser()
    browser.force_login(manager)

    response = browser.get(order.get_absolute_url())
    assert response.status_code == 200
    assert "Live state unavailable (no worker is polling the task queue)" in response.content.decode()
    response = browser.get(f"/orders/{order.pk}/panel/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "no worker is polling" in response.content.decode()
    body = ApiClient(issue_key(shop)).get(f"/orders/{order.number}").json()
    assert body["source"] == "database" and "no worker is polling the task queue" in body["notice"]

    manager.is_staff = True
    manager.save()
    ops = browser.get("/ops/").content.decode()
    section = ops.split('id="needs-attention"', 1)[1].split("</section>", 1)[0]
    assert f'data-order="{order.number}" data-kind="frozen"' in section and "no worker is polling the task queue" in section
    assert f"/workflows/{order.workflow_id}" in section


@workflow.defn(name="SomethingElse")
class SomethingElse:
    @workflow.run
    async def run(self) -> None:
        return None


@contextmanager
def worker_without_the_order_workflow(address: str, task_queue: str) -> Iterator[None]:
    """A worker polling the queue that cannot run OrderWorkflow (a bad deploy): every workflow task fails."""
    ready, stopping = threading.Event(), threading.Event()

    async def main() -> None:
        client = await Client.connect(address, **connect_kwargs())
        # Unsandboxed: this test module imports Django; the sandbox would refuse it.
        async with Worker(client, task_queue=task_queue, workflows=[SomethingElse], workflow_runner=UnsandboxedWorkflowRunner()):
            ready.set()
            while not stopping.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    assert ready.wait(30)
    try:
        yield
    finally:
        stopping.set()
        thread.join(30)


def test_a_workflow_task_that_keeps_failing_is_named_and_nothing_answers_500(nobody_polls, temporal_address, clerk, manager, customer,
                                                                             server):
    manager.is_staff = True
    manager.save()
    with worker_without_the_order_workflow(temporal_address, nobody_polls):
        order = services.order_submit(customer=customer, lines=[services.LineRequest(server, 1)], created_by=clerk,
                                      shipping_address="1 Main St")
        wait_for(lambda: (task := workflow_status.describe_order(order.pk).workflow_task) is not None and task.failing,
                 timeout=30, what="the workflow task to fail twice")
        browser = Browser()
        browser.force_login(manager)

        response = browser.get(order.get_absolute_url())
        assert response.status_code == 200
        html = response.content.decode()
        assert "the workflow&#x27;s task is failing (attempt " in html
        assert "OrderWorkflow is not registered on this worker" in html
        assert browser.get(f"/orders/{order.pk}/panel/", HTTP_HX_REQUEST="true").status_code == 200

        ops = browser.get("/ops/").content.decode()
        section = ops.split('id="needs-attention"', 1)[1].split("</section>", 1)[0]
        assert f'data-order="{order.number}" data-kind="frozen"' in section and "not registered on this worker" in section
        stuck = [why for number, why in reconcile(min_age=timedelta(0)).stuck if number == order.number]
        assert any(why.startswith("its workflow task is failing (attempt ") for why in stuck), stuck
        assert Order.objects.get(pk=order.pk).status == states.PENDING_APPROVAL  # frozen, not stopped
