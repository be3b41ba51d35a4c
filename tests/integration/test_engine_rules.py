"""The engine enforces its own rules, end to end: a real dev server,
a real worker, Django, and messages sent through the real Temporal client as
anyone with access to the frontend could send them.

Each hostile message leaves a pending order live and answerable (the page
and panel answer 200); a real approval from the page then completes it; the
history holds no WorkflowTaskFailed. Forged identities count for nothing, a
request id reused on another order is another decision, a decision sent
while no worker polls is queued and applied when one returns.
"""
from __future__ import annotations

from decimal import Decimal

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client as TemporalClient

from approvals.models import ApprovalDecision
from orders import services
from orders.models import Order, Product
from orders.timeline.models import OrderEvent
from temporal_bridge.client.bridge import bridge
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from tests.integration.stack import WorkerThread
from tests.integration.test_approvals import browser_for, decide
from tests.integration.test_lifecycle import finished, wait_for, waiting_for_decision
from tests.temporal_bridge.order.test_engine_rules import HOSTILE_MESSAGES

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def send_raw(order: Order, name: str, args: list) -> None:
    """A signal as the `temporal` CLI or any client would send it: no view in between."""
    async def send(client: TemporalClient) -> None:
        await client.get_workflow_handle(m.workflow_id_for(order.pk)).signal(name, args=args)

    bridge.call(send)


def history_of(order: Order):
    async def fetch(client: TemporalClient):
        return await client.get_workflow_handle(m.workflow_id_for(order.pk)).fetch_history()

    return bridge.call(fetch, timeout=20)


def task_failures(order: Order) -> list[str]:
    return [e.workflow_task_failed_event_attributes.failure.message for e in history_of(order).events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]


@pytest.fixture
def pending_order(policies, customer, clerk):
    """A 1,200 order under the standard policy (one manager), waiting for a decision."""
    def submit() -> Order:
        lamp = Product.objects.create(sku=f"LAMP-{Product.objects.count()}", name="Lamp", price=Decimal("600.00"), stock_on_hand=50)
        order = services.order_submit(customer=customer, lines=[services.LineRequest(lamp, 2)], created_by=clerk,
                                      shipping_address="1 Main St")
        waiting_for_decision(order.pk)
        return order

    return submit


def test_hostile_messages_through_the_real_client_never_fail_a_task_and_the_page_still_approves(stack, pending_order, manager):
    order = pending_order()
    for name, args, _ in HOSTILE_MESSAGES:
        send_raw(order, name, args)
    send_raw(order, m.SIGNAL_APPROVE, [m.DecisionSignal("mallory", "forged-1", "", senior=True)])  # nobody
    send_raw(order, m.SIGNAL_APPROVE, [m.DecisionSignal("clerk", "forged-2", "", senior=True)])  # the requester
    verdict = order_calls.request_verdict(order.pk, "forged-1", wait=10)
    assert (verdict.status, verdict.reason) == (m.VERDICT_REFUSED, "the desk has no record of this request: it was not sent from the desk")

    as_manager = browser_for(manager)
    assert as_manager.get(order.get_absolute_url()).status_code == 200
    assert as_manager.get(f"/orders/{order.pk}/panel/", HTTP_HX_REQUEST="true").status_code == 200
    assert Order.objects.get(pk=order.pk).status == states.PENDING_APPROVAL
    assert not ApprovalDecision.objects.filter(order=order).exists(), "no forged decision recorded"

    response = decide(as_manager, order, "it-real-approval")
    assert response.status_code == 200, response.content.decode()[:500]
    assert b"Accepted by the order&#x27;s workflow" in response.content
    final = finished(order.pk)
    assert final.state == states.FULFILLED
    assert task_failures(order) == []
    decisions = ApprovalDecision.objects.filter(order=order).values_list("approver_username", "request_id")
    assert list(decisions) == [("manager", "it-real-approval")]
    # The mirror tells the query's story, refusals included.
    wait_for(lambda: OrderEvent.objects.filter(order=order).count() == len(final.timeline), what="the mirror complete")
    assert [e.message for e in OrderEvent.objects.filter(order=order).order_by("idempotency_key")] == [e.message for e in final.timeline]


def test_a_request_id_reused_on_another_order_is_another_decision(stack, pending_order, manager):
    first, second = pending_order(), pending_order()
    as_manager = browser_for(manager)
    assert decide(as_manager, first, "it-shared-request").status_code == 200
    # The same id on another order is another decision: recorded for both.
    assert decide(as_manager, second, "it-shared-request").status_code == 200
    wait_for(lambda: ApprovalDecision.objects.filter(request_id="it-shared-request").count() == 2, what="both decisions recorded")
    for order in (first, second):
        assert finished(order.pk).state == states.FULFILLED


def test_a_decision_sent_while_no_worker_polls_is_queued_then_applied(stack, pending_order, manager, settings):
    order = pending_order()
    stack.stop()
    settings.TEMPORAL_VERDICT_WAIT = 1.0
    response = decide(browser_for(manager), order, "it-while-down")
    assert response.status_code == 202
    assert b"Queued: no worker has processed it yet" in response.content
    replacement = WorkerThread(stack.address, stack.task_queue).start()
    try:
        assert finished(order.pk).state == states.FULFILLED
        assert ApprovalDecision.objects.filter(order=order, request_id="it-while-down").exists()
    finally:
        replacement.stop()
