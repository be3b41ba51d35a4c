"""Approve, reject, cancel and update: the signals sent, the answers shown, and who may act."""
from __future__ import annotations

import pytest
from django.test import Client

from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from tests.orders.pages import HTMX, REQUEST_ID, logged_in, url

pytestmark = pytest.mark.django_db


def test_manager_approve_sends_the_signal_and_htmx_gets_the_panel(client, manager, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, manager).post(url("approve", order), {"request_id": REQUEST_ID, "comment": "Fine"}, headers=HTMX)
    assert response.status_code == 200
    assert 'id="live-panel"' in response.content.decode()
    assert "<html" not in response.content.decode()
    assert len(fake_temporal.signals) == 1
    sent = fake_temporal.signals[0]
    assert (sent.order_id, sent.name) == (order.pk, m.SIGNAL_APPROVE)
    assert sent.payload == m.DecisionSignal(actor="manager", request_id=REQUEST_ID, comment="Fine")


def test_approve_without_htmx_redirects_to_the_order_with_a_message(client, manager, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, manager).post(url("approve", order), {"request_id": REQUEST_ID}, follow=True)
    assert response.redirect_chain == [(url("detail", order), 302)]
    assert f"Approval of {order.number}: Accepted by the order&#x27;s workflow." in response.content.decode()
    assert len(fake_temporal.signals) == 1


def test_the_answer_to_a_decision_is_the_workflows_own_verdict(client, manager, fake_temporal, make_order):
    order = make_order()
    not_allowed = "manager is not allowed to approve or reject orders"
    fake_temporal.verdicts[REQUEST_ID] = m.RequestVerdict(REQUEST_ID, m.VERDICT_REFUSED, not_allowed)
    refused = logged_in(client, manager).post(url("approve", order), {"request_id": REQUEST_ID}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 409
    assert f"Refused by the order&#x27;s workflow: {not_allowed}" in refused.content.decode()

    fake_temporal.verdict = m.VERDICT_UNKNOWN  # no worker has processed it yet
    queued = client.post(url("approve", order), {"request_id": "b" * 32}, HTTP_HX_REQUEST="true")
    assert queued.status_code == 202
    assert (
        "Queued: no worker has processed it yet; it will be applied, or refused with its reason, when workers return"
    ) in queued.content.decode()


def test_approve_without_request_id_gets_a_fresh_one(client, manager, fake_temporal, make_order):
    order = make_order()
    logged_in(client, manager).post(url("approve", order), {}, headers=HTMX)
    assert len(fake_temporal.signals) == 1
    assert len(fake_temporal.signals[0].payload.request_id) >= 8


def test_malformed_request_id_is_refused(client, manager, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, manager).post(url("approve", order), {"request_id": "<script>"}, headers=HTMX)
    assert response.status_code == 400
    assert fake_temporal.signals == []


def test_clerk_cannot_approve(client, clerk, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, clerk).post(url("approve", order), {"request_id": REQUEST_ID}, headers=HTMX)
    assert response.status_code == 403
    assert "You are not allowed to approve or reject orders." in response.content.decode()
    assert fake_temporal.signals == []


def test_manager_cannot_approve_an_order_he_created(client, manager, fake_temporal, make_order):
    order = make_order(created_by=manager)
    response = logged_in(client, manager).post(url("approve", order), {"request_id": REQUEST_ID}, headers=HTMX)
    assert response.status_code == 403
    assert "You cannot decide on an order you created." in response.content.decode()
    assert fake_temporal.signals == []


def test_manager_cannot_reject_an_order_he_created(client, manager, fake_temporal, make_order):
    order = make_order(created_by=manager)
    response = logged_in(client, manager).post(url("reject", order), {"reject-reason": "no", "request_id": REQUEST_ID})
    assert response.status_code == 403
    assert fake_temporal.signals == []


def test_manager_reject_with_reason_sends_the_reason(client, manager, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, manager).post(
        url("reject", order), {"reject-reason": "  Too expensive  ", "reject-request_id": REQUEST_ID}, headers=HTMX,
    )
    assert response.status_code == 200
    [sent] = fake_temporal.signals
    assert sent.name == m.SIGNAL_REJECT
    assert sent.payload == m.DecisionSignal(actor="manager", request_id=REQUEST_ID, comment="Too expensive")


@pytest.mark.parametrize("action, field", [("reject", "reject-reason"), ("cancel", "cancel-reason")])
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_reject_and_cancel_need_a_reason(client, manager, fake_temporal, make_order, action, field, reason):
    order = make_order()
    data = {"request_id": REQUEST_ID} if reason is None else {field: reason, "request_id": REQUEST_ID}
    response = logged_in(client, manager).post(url(action, order), data, headers=HTMX)
    assert response.status_code == 400
    assert "A reason is required" in response.content.decode()
    assert fake_temporal.signals == []


def test_reject_without_reason_without_htmx_renders_the_page_with_400(client, manager, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, manager).post(url("reject", order), {})
    assert response.status_code == 400
    html = response.content.decode()
    assert "A reason is required" in html
    assert "<html" in html
    assert fake_temporal.signals == []


def test_manager_cancel_sends_the_signal_with_reason_and_actor(client, manager, fake_temporal, make_order):
    order = make_order(status=states.FULFILLING)
    response = logged_in(client, manager).post(
        url("cancel", order), {"cancel-reason": "Customer called", "cancel-request_id": REQUEST_ID}, headers=HTMX,
    )
    assert response.status_code == 200
    [sent] = fake_temporal.signals
    assert sent.name == m.SIGNAL_CANCEL
    assert sent.payload == m.CancelSignal(actor="manager", request_id=REQUEST_ID, reason="Customer called")


def test_cancel_of_a_fulfilled_order_is_a_conflict(client, manager, fake_temporal, make_order):
    order = make_order(status=states.FULFILLED)
    response = logged_in(client, manager).post(url("cancel", order), {"cancel-reason": "Too late"}, headers=HTMX)
    assert response.status_code == 409
    assert "can no longer be cancelled" in response.content.decode()
    assert fake_temporal.signals == []


def test_approve_of_an_order_no_longer_pending_is_a_conflict(client, manager, fake_temporal, make_order):
    order = make_order(status=states.PROCESSING)
    response = logged_in(client, manager).post(url("approve", order), {"request_id": REQUEST_ID}, headers=HTMX)
    assert response.status_code == 409
    assert "no longer awaiting approval" in response.content.decode()
    assert fake_temporal.signals == []


def test_clerk_cannot_cancel(client, clerk, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, clerk).post(url("cancel", order), {"cancel-reason": "Oops"}, headers=HTMX)
    assert response.status_code == 403
    assert fake_temporal.signals == []


@pytest.mark.parametrize("action", ["approve", "reject", "cancel", "update"])
def test_outsider_can_take_no_action(client, outsider, fake_temporal, make_order, action):
    order = make_order()
    data = {"reject-reason": "x", "cancel-reason": "x", "priority": "high", "shipping_address": "Elsewhere"}
    response = logged_in(client, outsider).post(url(action, order), data, headers=HTMX)
    assert response.status_code == 403
    assert fake_temporal.signals == []


def test_clerk_update_sends_the_changes(client, clerk, fake_temporal, make_order):
    order = make_order()
    data = {"priority": "urgent", "shipping_address": " 2 New Road ", "note": "Ring twice", "request_id": REQUEST_ID}
    response = logged_in(client, clerk).post(url("update", order), data, headers=HTMX)
    assert response.status_code == 200
    [sent] = fake_temporal.signals
    assert sent.name == m.SIGNAL_UPDATE
    assert sent.payload == m.UpdateSignal(
        actor="clerk", request_id=REQUEST_ID, priority="urgent", shipping_address="2 New Road", note="Ring twice",
    )


def test_update_with_an_empty_address_is_refused(client, clerk, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, clerk).post(url("update", order), {"priority": "high", "shipping_address": ""}, headers=HTMX)
    assert response.status_code == 400
    assert fake_temporal.signals == []


def test_update_of_a_finished_order_is_a_conflict(client, clerk, fake_temporal, make_order):
    order = make_order(status=states.REJECTED)
    response = logged_in(client, clerk).post(url("update", order), {"priority": "high", "shipping_address": "x"}, headers=HTMX)
    assert response.status_code == 409
    assert fake_temporal.signals == []


@pytest.mark.parametrize("action", ["approve", "reject", "cancel", "update"])
def test_action_post_without_csrf_token_is_forbidden(manager, fake_temporal, make_order, action):
    order = make_order()
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    data = {"request_id": REQUEST_ID, "reject-reason": "x", "cancel-reason": "x", "priority": "high", "shipping_address": "x"}
    response = client.post(url(action, order), data, headers=HTMX)
    assert response.status_code == 403
    assert fake_temporal.signals == []


def test_action_post_with_the_csrf_header_htmx_sends_is_accepted(manager, fake_temporal, make_order):
    order = make_order()
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    page = client.get(url("detail", order))
    token = page.context["csrf_token"]
    response = client.post(url("approve", order), {"request_id": REQUEST_ID}, headers={**HTMX, "X-CSRFToken": str(token)})
    assert response.status_code == 200
    assert len(fake_temporal.signals) == 1


@pytest.mark.parametrize("action", ["approve", "reject", "cancel", "update"])
def test_get_on_an_action_url_is_not_allowed(client, manager, fake_temporal, make_order, action):
    order = make_order()
    response = logged_in(client, manager).get(url(action, order))
    assert response.status_code == 405
    assert fake_temporal.signals == []


@pytest.mark.parametrize("action", ["approve", "reject", "cancel", "update"])
def test_action_on_an_unknown_order_is_404(client, manager, fake_temporal, action):
    response = logged_in(client, manager).post(url(action, 999_999), {"reject-reason": "x", "cancel-reason": "x"})
    assert response.status_code == 404
    assert fake_temporal.signals == []


def test_signal_while_temporal_is_unavailable_is_503_with_a_clear_message(client, manager, fake_temporal, make_order):
    order = make_order()
    fake_temporal.unavailable = True
    response = logged_in(client, manager).post(url("approve", order), {"request_id": REQUEST_ID}, headers=HTMX)
    assert response.status_code == 503
    html = response.content.decode()
    assert "The workflow service is unavailable; nothing was changed." in html
    assert 'id="live-panel"' in html
    assert fake_temporal.signals == []


def test_signal_to_a_finished_workflow_is_a_conflict(client, manager, fake_temporal, make_order):
    order = make_order()
    fake_temporal.not_found = True
    response = logged_in(client, manager).post(url("approve", order), {"request_id": REQUEST_ID}, headers=HTMX)
    assert response.status_code == 409
    assert "is no longer running" in response.content.decode()
