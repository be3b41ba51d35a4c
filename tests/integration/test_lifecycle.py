"""End to end through a real Temporal dev server, a real worker and Django.

Submit through the service, decide through the views as a manager would, and
check that the database mirror tells the same story as the workflow's query.
"""
from __future__ import annotations

import time

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from temporalio.api.enums.v1 import EventType

from approvals.models import ApprovalDecision
from approvals.services import APPROVE, approval_decide
from orders import services
from orders.models import Order, Product, StockReservation
from orders.payments.models import PaymentTransaction
from orders.timeline.mirror import mirror_snapshot
from orders.timeline.models import OrderEvent
from temporal_bridge.client.bridge import bridge
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import messages as m
from temporal_bridge.order import states

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, *, timeout: float = 40.0, every: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def waiting_for_decision(order_id: int, *, timeout: float = 40.0) -> m.OrderSnapshot:
    """Wait until the order's workflow itself says it waits for a decision (the desk writes the
    approval deadline with the order, so a mirrored deadline no longer proves the workflow ran)."""

    def snapshot():
        try:
            answer = order_calls.query_order(order_id, timeout=2)
        except Exception:  # noqa: BLE001 - not started or no first workflow task yet: ask again
            return None
        return answer if answer.state == states.PENDING_APPROVAL else None

    return wait_for(snapshot, timeout=timeout, what="the workflow waiting for a decision")


def finished(order_id: int):
    """Wait for the workflow to complete and return its final snapshot."""

    async def result(client: Client):
        return await client.get_workflow_handle(m.workflow_id_for(order_id), result_type=m.OrderSnapshot).result()

    return bridge.call(result, timeout=40)


def snapshot_state(order_id: int, wanted: str):
    snap = order_calls.query_order(order_id)
    return snap if snap.state == wanted else None


def submit(clerk, customer, product, quantity) -> Order:
    return services.order_submit(
        customer=customer, lines=[services.LineRequest(product, quantity)], created_by=clerk,
        shipping_address="1 Main Street\nSpringfield",
    )


def test_manager_approval_takes_an_order_to_fulfilled_and_the_mirror_matches_the_query(stack, clerk, manager, customer, server):
    order = submit(clerk, customer, server, 2)  # 2000.00: above the auto-approval threshold
    assert order.requires_approval
    wait_for(lambda: snapshot_state(order.pk, states.PENDING_APPROVAL), what="pending approval")

    order.refresh_from_db()
    approval_decide(order=order, user=manager, decision=APPROVE, comment="Looks right", request_id="it-approve-0001")
    snapshot = finished(order.pk)
    assert snapshot.state == states.FULFILLED

    order.refresh_from_db()
    assert order.status == states.FULFILLED
    assert order.tracking_number and order.tracking_number == snapshot.tracking_number
    assert order.progress == 100
    # The mirror's timeline is the workflow's timeline, entry for entry.
    assert list(OrderEvent.objects.filter(order=order).order_by("idempotency_key").values_list("message", flat=True)) == [
        entry.message for entry in snapshot.timeline
    ]
    assert [d.actor for d in snapshot.decisions] == ["manager"]
    assert ApprovalDecision.objects.get(order=order).approver == manager
    assert PaymentTransaction.objects.filter(order=order, kind="capture").count() == 1
    server.refresh_from_db()
    assert (server.stock_on_hand, server.stock_reserved) == (3, 0)
    assert [m.subject for m in mail.outbox] == [f"Your order {order.number} has shipped"]


def test_small_order_is_auto_approved_and_fulfilled_without_a_manager(stack, settings, clerk, customer, widget):
    settings.ORDER_FULFILMENT_STEPS = 1  # one progress report, as the bench's orders
    order = submit(clerk, customer, widget, 2)  # 20.00
    assert not order.requires_approval
    snapshot = finished(order.pk)
    assert snapshot.state == states.FULFILLED
    assert snapshot.decisions[0].actor == "system"
    order.refresh_from_db()
    assert order.status == states.FULFILLED
    # Each business step with its own record (the reservation checks the
    # credit and writes "approved"): reserve, charge, fulfil, ship, notify,
    # and nothing else.
    events = [event.event_type for event in order_history(order.pk).events]
    assert events.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == 5
    assert events.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) <= 7
    # ... and the mirror is the query, entry for entry: keys, words and times.
    mirrored = mirror_snapshot(order).timeline
    assert [(e.key, e.kind, e.message, e.actor, e.at) for e in mirrored] == [
        (e.key, e.kind, e.message, e.actor, e.at) for e in snapshot.timeline]


def order_history(order_id: int):
    async def fetch(client):
        return await client.get_workflow_handle(m.workflow_id_for(order_id)).fetch_history()

    return bridge.call(fetch, timeout=20)


def test_cancel_during_fulfilment_from_the_browser_refunds_and_releases_stock(stack, settings, clerk, manager, customer, server):
    settings.ORDER_FULFILMENT_STEPS = 20
    settings.ORDER_FULFILMENT_STEP_SECONDS = 0.5
    order = submit(clerk, customer, server, 1)
    wait_for(lambda: snapshot_state(order.pk, states.PENDING_APPROVAL), what="pending approval")

    browser = Client()
    browser.force_login(manager)
    response = browser.post(f"/orders/{order.pk}/approve/", {"request_id": "it-approve-0002"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    wait_for(lambda: order_calls.query_order(order.pk).progress > 0, what="fulfilment progress")

    response = browser.post(
        f"/orders/{order.pk}/cancel/", {"cancel-reason": "Customer changed their mind", "cancel-request_id": "it-cancel-0001"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert b"Cancel requested by manager" in response.content
    snapshot = finished(order.pk)
    assert snapshot.state == states.CANCELLED

    messages = [entry.message for entry in snapshot.timeline]
    refund = next(i for i, msg in enumerate(messages) if msg.startswith("Refunded"))
    release = next(i for i, msg in enumerate(messages) if msg.startswith("Released"))
    assert refund < release, "compensation runs in reverse: refund before the stock release"
    assert PaymentTransaction.objects.filter(order=order, kind="refund").count() == 1
    assert set(StockReservation.objects.filter(order=order).values_list("status", flat=True)) == {"released"}
    server.refresh_from_db()
    assert (server.stock_on_hand, server.stock_reserved) == (5, 0)
    order.refresh_from_db()
    assert order.status == states.CANCELLED and order.progress < 100

    page = browser.get(f"/orders/{order.pk}/")
    assert b"Refunded" in page.content and b"hx-trigger" not in page.content


def test_detail_page_shows_the_live_workflow_state(stack, clerk, manager, customer, server):
    order = submit(clerk, customer, server, 1)
    wait_for(lambda: snapshot_state(order.pk, states.PENDING_APPROVAL), what="pending approval")
    browser = Client()
    browser.force_login(manager)
    response = browser.get(f"/orders/{order.pk}/panel/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b'data-source="workflow"' in response.content
    assert b">Approve</button>" in response.content
    assert Product.objects.get(pk=server.pk).stock_reserved == 0


def test_reconcile_orders_starts_the_workflow_of_an_order_whose_start_failed(stack, settings, clerk, customer, widget):
    settings.TEMPORAL_ADDRESS = "127.0.0.1:1"  # Temporal unreachable while the order is submitted
    bridge.reset()
    order = submit(clerk, customer, widget, 1)
    order.refresh_from_db()
    assert order.workflow_started_at is None

    settings.TEMPORAL_ADDRESS = stack.address
    bridge.reset()
    call_command("reconcile_orders", min_age=0)
    order.refresh_from_db()
    assert order.workflow_started_at is not None
    wait_for(lambda: snapshot_state(order.pk, states.FULFILLED), what="fulfilled")
    call_command("reconcile_orders", min_age=0)  # idempotent: nothing left to start


def test_seed_demo_submits_orders_with_real_workflows(stack):
    call_command("seed_demo", orders=4)
    orders = list(Order.objects.all())
    assert len(orders) == 4 and all(o.workflow_started_at for o in orders)
    for order in orders:
        expected = states.PENDING_APPROVAL if order.requires_approval else states.FULFILLED
        wait_for(lambda order=order, expected=expected: snapshot_state(order.pk, expected), what=f"{order.number} {expected}")
    call_command("seed_demo", orders=4, if_empty=True)
    assert Order.objects.count() == 4
