"""Approvals end to end: a real Temporal dev server, a real worker, Django.

What a user relies on: a $50k order needs two managers including
`senior`; `manager` approving twice counts once; the manager who submitted it
cannot approve it (403 in the view, ignored and noted in the workflow); a bulk
approval of 20 orders survives its web process being killed; the digest
schedule is ensured idempotently and its digest reaches the approvers.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client

from approvals.models import ApprovalDecision, ApprovalNotice
from orders import roles, services
from orders.intents.services import intent_record
from orders.models import Order, Product
from orders.timeline.models import OrderEvent
from temporal_bridge.approvals import calls as approval_calls
from temporal_bridge.approvals import messages as approval
from temporal_bridge.approvals.workflows import bulk_request_id
from temporal_bridge.client.bridge import WorkflowNotFound, bridge
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from tests.conftest import make_user
from tests.integration.test_lifecycle import finished, wait_for, waiting_for_decision

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def browser_for(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def decide(browser: Client, order: Order, request_id: str, action: str = "approve", **data):
    return browser.post(f"/orders/{order.pk}/{action}/", {"request_id": request_id, **data}, HTTP_HX_REQUEST="true")


def recorded_signal(order: Order, signal: str, payload) -> None:
    """A request the desk recorded but whose page checks were stale (the page
    was loaded before the order moved): the workflow's own rules are the second line."""
    intent_record(order=order, signal=signal, payload=payload)
    order_calls.signal_order(order.pk, signal, payload)


def raw_signal(order: Order, actor: str, request_id: str, *, senior: bool = False) -> None:
    """An approval recorded past the view's checks: the workflow is the second line."""
    recorded_signal(order, m.SIGNAL_APPROVE, m.DecisionSignal(actor=actor, request_id=request_id, senior=senior))


def notes(order_id: int) -> list[str]:
    return [e.message for e in order_calls.query_order(order_id).timeline if e.kind == "note"]


def test_a_50k_order_needs_two_managers_including_senior_and_nobody_counts_twice(stack, policies, manager, manager2, senior, customer):
    buyer = make_user("buyer", roles.MANAGERS, roles.CLERKS)  # a manager who may also submit orders
    rack = Product.objects.create(sku="RACK-1", name="Rack", price=Decimal("5000.00"), stock_on_hand=20)
    order = services.order_submit(customer=customer, lines=[services.LineRequest(rack, 10)], created_by=buyer, shipping_address="1 Main St")
    assert order.total == Decimal("50000.00")
    waiting_for_decision(order.pk)

    # The submitter: 403 in the view, and a signal sent anyway is ignored and noted.
    response = decide(browser_for(buyer), order, "it-buyer-000001")
    assert response.status_code == 403 and b"You cannot decide on an order you created." in response.content
    raw_signal(order, "buyer", "it-buyer-000002")
    wait_for(lambda: "Decision by buyer ignored: the requester cannot decide on their own order" in notes(order.pk), what="requester noted")

    # manager approves: 1 of 2, and only a senior can still complete the quorum.
    as_manager = browser_for(manager)
    assert decide(as_manager, order, "it-manager-00001").status_code == 200
    wait_for(lambda: ApprovalDecision.objects.filter(order=order).count() == 1, what="manager's approval mirrored")
    live = order_calls.query_order(order.pk)
    assert (live.approval.approved, live.approval.required, live.approval.approved_by) == (1, 2, ["manager"])
    assert live.approval.still_needed == "needs a senior approver (1 more approval)"

    # manager again: 403 in the view; past the view, ignored and noted; it still counts once.
    response = decide(as_manager, order, "it-manager-00002")
    assert response.status_code == 403 and b"one person counts once" in response.content
    raw_signal(order, "manager", "it-manager-00003")
    wait_for(lambda: "Approval by manager ignored: manager has already approved; one person counts once" in notes(order.pk),
             what="repeat noted")
    # manager2 is not senior, and only a senior can still count.
    response = decide(browser_for(manager2), order, "it-manager2-0001")
    assert response.status_code == 403 and b"must come from a senior approver" in response.content
    assert order_calls.query_order(order.pk).approval.approved == 1

    assert decide(browser_for(senior), order, "it-senior-000001", comment="Signed off").status_code == 200
    final = finished(order.pk)

    assert final.state == states.FULFILLED
    assert "Approved: 2 of 2 approvals (manager, senior)" in [e.message for e in final.timeline]
    order.refresh_from_db()
    assert order.status == states.FULFILLED
    assert "“Large orders”: 2 approvals from different people, at least one senior" in order.approval_rule_text
    assert list(ApprovalDecision.objects.filter(order=order).values_list("approver_username", "senior", "decision")) == [
        ("manager", False, "approved"), ("senior", True, "approved"),
    ]
    # The mirror tells the same story, the ignored decisions included.
    assert list(OrderEvent.objects.filter(order=order).order_by("idempotency_key").values_list("message", flat=True)) == [
        e.message for e in final.timeline
    ]
    page = browser_for(manager).get(f"/orders/{order.pk}/").content.decode()
    assert "Decision by buyer ignored" in page and "Approval 2 of 2 by senior (senior): Signed off" in page


def test_bulk_approval_of_20_orders_survives_a_killed_web_process(stack, policies, clerk, manager, customer):
    stock = Product.objects.create(sku="BULK-1", name="Bulk item", price=Decimal("25.00"), stock_on_hand=10_000)
    orders = [services.order_submit(customer=customer, lines=[services.LineRequest(stock, 30)], created_by=clerk, shipping_address="Dock 4")
              for _ in range(20)]  # 750.00 each: "Standard orders", one manager
    ids = [o.pk for o in orders]
    for pk in ids:
        waiting_for_decision(pk)

    batch_id = "it-bulk-20-orders"
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "TEMPORAL_ADDRESS": django_settings.TEMPORAL_ADDRESS,
        "TEMPORAL_TASK_QUEUE": django_settings.TEMPORAL_TASK_QUEUE, "ORDER_DESK_TEST_DATABASE": str(connection.settings_dict["NAME"]),
    }
    web = subprocess.Popen([sys.executable, "-m", "tests.integration.web_process", "manager", batch_id, *map(str, ids)],
                           cwd=django_settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def batch_started():
            try:
                return approval_calls.bulk_decision_progress(batch_id)
            except WorkflowNotFound:
                return None

        at_kill = wait_for(batch_started, timeout=60, every=0.05, what="the batch workflow to start")
        web.send_signal(signal.SIGKILL)  # the web process dies the moment the batch exists
        web.wait(timeout=10)
    finally:
        if web.poll() is None:
            web.kill()
    assert web.returncode == -signal.SIGKILL

    began = time.monotonic()
    result = wait_for(lambda: (p := approval_calls.bulk_decision_progress(batch_id)).finished and p, timeout=60, what="the batch to finish")
    batch_seconds = time.monotonic() - began
    print(f"\nbulk batch: {len(at_kill.results)} of 20 sent when the web process was killed; finished {batch_seconds:.1f}s later")

    assert len(at_kill.results) < 20, "the kill came before the batch was done"
    assert [(r.order_id, r.outcome) for r in result.results] == [(i, approval.BULK_SENT) for i in ids]
    # Every order's workflow accepted its approval, recorded it and moved on (to processing and beyond).
    decisions = ApprovalDecision.objects.filter(order__in=ids)
    wait_for(lambda: decisions.count() == 20 and not Order.objects.filter(pk__in=ids, status=states.PENDING_APPROVAL).exists(),
             timeout=60, what="20 approvals recorded and the orders approved")
    assert sorted(decisions.values_list("request_id", flat=True)) == sorted(bulk_request_id(batch_id, i) for i in ids)
    assert set(decisions.values_list("approver_username", "comment")) == {("manager", "Month-end run")}

    page = browser_for(manager).get(f"/approvals/batches/{batch_id}/").content.decode()
    assert "20 sent" in page and "partial-failure" not in page


def test_digest_schedule_is_ensured_idempotently_and_its_digest_reaches_the_approvers(stack, policies, clerk, manager, customer, widget):
    async def schedule_ids(client):
        return [s.id async for s in await client.list_schedules()]

    async def describe(client):
        return await client.get_schedule_handle(approval.DIGEST_SCHEDULE_ID).describe()

    async def trigger(client):
        await client.get_schedule_handle(approval.DIGEST_SCHEDULE_ID).trigger()

    async def delete(client):
        await client.get_schedule_handle(approval.DIGEST_SCHEDULE_ID).delete()

    manager.email = "manager@desk.example"
    manager.save()
    order = services.order_submit(customer=customer, lines=[services.LineRequest(widget, 60)], created_by=clerk,
                                  shipping_address="1 Main St")
    try:
        first, second = StringIO(), StringIO()
        call_command("ensure_schedules", stdout=first)
        call_command("ensure_schedules", digest_cron="30 7 * * 1-5", stdout=second)
        assert "'approval-digest' created: 0 8 * * *" in first.getvalue()
        assert "'approval-digest' updated: 30 7 * * 1-5" in second.getvalue()
        ids = wait_for(lambda: (found := bridge.call(schedule_ids)) and approval.DIGEST_SCHEDULE_ID in found and found,
                       what="schedule listed")
        assert ids.count(approval.DIGEST_SCHEDULE_ID) == 1
        spec = bridge.call(describe).schedule.spec
        calendar = spec.calendars[0] if spec.calendars else None
        assert calendar is not None and [r.start for r in calendar.hour] == [7] and [r.start for r in calendar.minute] == [30]
        assert [(r.start, r.end) for r in calendar.day_of_week] == [(1, 5)]

        bridge.call(trigger)
        wait_for(lambda: ApprovalNotice.objects.filter(kind="digest", recipients="manager").exists(), what="the digest")
        [digest] = [e for e in mail.outbox if e.to == ["manager@desk.example"]]
        assert digest.subject == "1 order awaiting your approval" and order.number in digest.body
    finally:
        bridge.call(delete)
