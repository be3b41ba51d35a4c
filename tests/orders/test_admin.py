"""The Django admin for orders: the same permission rules and the same signals as the pages."""
from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages

from approvals.models import ApprovalDecision
from orders import roles
from orders.models import Order
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/orders/order/"


def change_url(order: Order) -> str:
    return f"/admin/orders/order/{order.pk}/change/"


def edit_form_data(client, order: Order, **changes) -> dict:
    """What a browser posts from the change page: its hidden inputs (the
    inlines' management forms) plus the editable fields, with `changes`."""
    body = client.get(change_url(order)).content.decode()
    data = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body))
    data.pop("csrfmiddlewaretoken", None)
    data.update({"priority": order.priority, "shipping_address": order.shipping_address, "note": order.note, "_save": "Save"})
    data.update(changes)
    return data


def run_action(client, action: str, orders, reason: str = ""):
    data = {"action": action, "_selected_action": [o.pk for o in orders], "index": 0, "reason": reason}
    return client.post(CHANGELIST, data, follow=True)


def message_texts(response) -> list[str]:
    return [str(msg) for msg in get_messages(response.wsgi_request)]


def test_manager_opens_the_order_changelist_without_calling_temporal(client, manager, fake_temporal, make_order):
    orders = [make_order(status=s) for s in (states.PENDING_APPROVAL, states.FULFILLING, states.FULFILLED)]
    client.force_login(manager)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert all(o.number in html for o in orders)
    assert fake_temporal.calls == 0


def test_change_page_shows_the_live_workflow_state(client, manager, fake_temporal, make_order):
    order = make_order()
    client.force_login(manager)
    response = client.get(change_url(order))
    assert response.status_code == 200
    assert "live from the workflow" in response.content.decode()
    assert fake_temporal.queries == [order.pk]


def test_change_page_falls_back_to_the_mirror_when_no_worker_answers(client, manager, fake_temporal, make_order):
    order = make_order()
    fake_temporal.unavailable = True
    client.force_login(manager)
    response = client.get(change_url(order))
    assert response.status_code == 200
    html = response.content.decode()
    assert "from the database mirror" in html
    assert "Live state unavailable" in html


def test_admin_approve_action_sends_the_signal_through_the_service(client, manager, fake_temporal, make_order):
    first, second = make_order(), make_order()
    client.force_login(manager)
    response = run_action(client, "approve_orders", [first, second])
    assert response.status_code == 200
    assert sorted((s.order_id, s.name) for s in fake_temporal.signals) == [(first.pk, m.SIGNAL_APPROVE), (second.pk, m.SIGNAL_APPROVE)]
    assert all(s.payload.actor == "manager" and s.payload.request_id for s in fake_temporal.signals)
    assert any("Approve accepted by the workflow of" in text for text in message_texts(response))
    # The decision is recorded by the workflow once it accepts it, not by the admin.
    assert ApprovalDecision.objects.count() == 0
    assert set(Order.objects.values_list("status", flat=True)) == {states.PENDING_APPROVAL}


def test_admin_approve_action_refuses_my_own_order_and_sends_the_rest(client, manager, fake_temporal, make_order):
    theirs, mine = make_order(), make_order(created_by=manager)
    client.force_login(manager)
    response = run_action(client, "approve_orders", [theirs, mine])
    assert [s.order_id for s in fake_temporal.signals] == [theirs.pk]
    assert f"Not done: {mine.number}: You cannot decide on an order you created." in message_texts(response)


def test_admin_reject_action_without_reason_sends_nothing_and_says_why(client, manager, fake_temporal, make_order):
    order = make_order()
    client.force_login(manager)
    response = run_action(client, "reject_orders", [order], reason="  ")
    assert fake_temporal.signals == []
    assert "A reason is required to reject orders. Nothing was sent." in message_texts(response)


def test_admin_reject_action_with_reason_sends_it(client, manager, fake_temporal, make_order):
    order = make_order()
    client.force_login(manager)
    run_action(client, "reject_orders", [order], reason="Over budget")
    [sent] = fake_temporal.signals
    assert (sent.name, sent.payload.comment, sent.payload.actor) == (m.SIGNAL_REJECT, "Over budget", "manager")


def test_admin_cancel_action_skips_finished_orders(client, manager, fake_temporal, make_order):
    running, finished = make_order(status=states.PROCESSING), make_order(status=states.FULFILLED)
    client.force_login(manager)
    response = run_action(client, "cancel_orders", [running, finished], reason="Customer called")
    [sent] = fake_temporal.signals
    assert (sent.order_id, sent.name, sent.payload.reason) == (running.pk, m.SIGNAL_CANCEL, "Customer called")
    assert any(text.startswith(f"Not done: {finished.number}:") for text in message_texts(response))


def test_admin_action_while_temporal_is_down_reports_nothing_was_sent(client, manager, fake_temporal, make_order):
    order = make_order()
    fake_temporal.unavailable = True
    client.force_login(manager)
    response = run_action(client, "approve_orders", [order])
    assert response.status_code == 200
    assert any("unavailable; nothing was changed" in text for text in message_texts(response))


def test_staff_without_approve_permission_gets_no_approve_action(client, fake_temporal, make_order):
    staff_clerk = make_user("staffclerk", roles.CLERKS, is_staff=True)
    order = make_order()
    client.force_login(staff_clerk)
    changelist = client.get(CHANGELIST)
    assert changelist.status_code == 200
    assert 'value="approve_orders"' not in changelist.content.decode()
    run_action(client, "approve_orders", [order])
    assert fake_temporal.signals == []


def test_admin_edit_becomes_an_update_signal_not_a_write(client, manager, fake_temporal, make_order):
    order = make_order()
    client.force_login(manager)
    response = client.post(change_url(order), edit_form_data(client, order, priority="urgent"), follow=True)
    assert response.status_code == 200
    [sent] = fake_temporal.signals
    assert sent.name == m.SIGNAL_UPDATE
    assert (sent.payload.priority, sent.payload.shipping_address, sent.payload.note) == ("urgent", None, None)
    order.refresh_from_db()
    assert order.priority == "normal"  # the workflow applies it, through apply_order_update
    assert any("sent to the order's workflow" in text for text in message_texts(response))


def test_non_staff_cannot_open_the_admin(client, clerk, fake_temporal):
    client.force_login(clerk)
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_admin_edit_of_a_finished_order_is_refused_with_a_message(client, manager, fake_temporal, make_order):
    order = make_order(status=states.FULFILLED)
    client.force_login(manager)
    response = client.post(change_url(order), edit_form_data(client, order, priority="urgent"), follow=True)
    assert fake_temporal.signals == []
    assert response.redirect_chain == [(change_url(order), 302)]  # stays on the page, with the error
    texts = message_texts(response)
    assert any(text.startswith("Not changed:") and "can no longer be changed" in text for text in texts)
    assert not any("changed successfully" in text for text in texts)
    assert not LogEntry.objects.filter(object_id=str(order.pk)).exists()


def test_manager_sees_the_order_lines_payments_and_events_in_the_admin(client, manager, fake_temporal, make_order):
    order = make_order()
    client.force_login(manager)
    body = client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert "Widget" in body  # the line's product, from the lines inline
    assert "Order events" in body or "order events" in body.lower()


def test_admin_actions_report_the_workflows_verdict_per_order(client, manager, fake_temporal, make_order, monkeypatch):
    refused, queued = make_order(), make_order()

    def answer(order_id, request_id, *, wait):
        if order_id == refused.pk:
            return m.RequestVerdict(request_id, m.VERDICT_REFUSED, "manager is not allowed to approve or reject orders")
        return m.RequestVerdict(request_id, m.VERDICT_UNKNOWN)

    monkeypatch.setattr(order_calls, "request_verdict", answer)  # one answer per order
    client.force_login(manager)
    response = client.post("/admin/orders/order/", {"action": "approve_orders", "_selected_action": [refused.pk, queued.pk]}, follow=True)
    texts = message_texts(response)
    assert f"Not done: {refused.number}: refused by the order's workflow: manager is not allowed to approve or reject orders" in texts
    assert any(text.startswith(f"Approve queued for {queued.number}: no worker has processed it yet") for text in texts)
