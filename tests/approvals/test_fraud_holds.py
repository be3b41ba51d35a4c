"""A payment provider's fraud alert holds the order: a task in the managers'
inbox, released (a signal, checked and answered like a decision) or cancelled
with a refund (the ordinary cancel)."""
from __future__ import annotations

import re

import pytest
from django.utils.html import escape

from approvals.identity import actor_verify
from orders.webhooks.models import WebhookEvent
from temporal_bridge.contract.intents import ActorCheckInput
from temporal_bridge.order import holds, payments, states
from temporal_bridge.order import messages as m

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(make_order):
    """An order on hold, with the fraud alert the provider sent for it."""

    def make(reason: str = "card reported stolen", **fields):
        order = make_order(status=states.ON_HOLD, **fields)
        WebhookEvent.objects.create(
            provider=payments.PROVIDER_PAYMENTS, event_id=f"evt_fraud_{order.pk}", type="payment.fraud_alert", order=order,
            order_number=order.number, payload={"id": f"evt_fraud_{order.pk}", "type": "payment.fraud_alert", "order": order.number,
                                                "reason": reason},
            status=WebhookEvent.Delivery.DELIVERED,
        )
        return order

    return make


def hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]+)"', html).group(1)


def test_a_fraud_hold_is_a_task_in_the_inbox_with_its_reason(client, manager, fake_temporal, held, make_order):
    order = held("card reported stolen")
    make_order(status=states.ON_HOLD)  # held for another reason (a paused fulfilment): operations', not here
    client.force_login(manager)
    html = client.get("/approvals/").content.decode()
    assert html.count("data-fraud-hold=") == 1
    assert "Fraud alert: card reported stolen" in html
    assert "Release hold" in html and "Cancel with refund" in html
    assert f'action="/orders/{order.pk}/release-hold/"' in html


def test_release_hold_from_the_inbox_sends_the_release_signal_and_reports_the_verdict(client, manager, fake_temporal, held):
    order = held()
    client.force_login(manager)
    html = client.get("/approvals/").content.decode()
    request_id = hidden(html, "release-request_id")
    response = client.post(f"/orders/{order.pk}/release-hold/", {"release-request_id": request_id, "release-comment": "called the buyer"},
                           follow=True)
    assert response.status_code == 200
    [sent] = fake_temporal.signals
    assert (sent.order_id, sent.name) == (order.pk, holds.SIGNAL_RELEASE_HOLD)
    assert (sent.payload.actor, sent.payload.request_id, sent.payload.comment) == ("manager", request_id, "called the buyer")
    assert escape("Accepted by the order's workflow") in response.content.decode()


def test_the_workflow_refusing_the_release_is_shown_as_refused(client, manager, fake_temporal, held):
    order = held()
    fake_temporal.verdict = m.VERDICT_REFUSED
    client.force_login(manager)
    response = client.post(f"/orders/{order.pk}/release-hold/", {"release-request_id": "req-12345678"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 409


def test_cancel_with_refund_from_the_inbox_is_the_ordinary_cancel(client, manager, fake_temporal, held):
    order = held()
    client.force_login(manager)
    html = client.get("/approvals/").content.decode()
    request_id = hidden(html, "cancel-request_id")
    response = client.post(f"/orders/{order.pk}/cancel/", {"cancel-request_id": request_id, "cancel-reason": "fraud confirmed"})
    assert response.status_code == 302
    [sent] = fake_temporal.signals
    assert (sent.name, sent.payload.reason, sent.payload.request_id) == (m.SIGNAL_CANCEL, "fraud confirmed", request_id)


def test_only_approvers_may_release_and_not_on_their_own_order(client, clerk, manager, fake_temporal, held):
    order = held()
    client.force_login(clerk)
    assert client.post(f"/orders/{order.pk}/release-hold/", {"release-request_id": "req-12345678"}).status_code == 403
    own = held(created_by=manager)
    client.force_login(manager)
    assert client.post(f"/orders/{own.pk}/release-hold/", {"release-request_id": "req-12345678"}).status_code == 403
    assert "Another manager releases it" in client.get("/approvals/").content.decode()
    assert fake_temporal.signals == []


def test_release_of_an_order_not_on_hold_is_409_and_sends_nothing(client, manager, fake_temporal, make_order):
    order = make_order(status=states.PROCESSING)
    client.force_login(manager)
    assert client.post(f"/orders/{order.pk}/release-hold/", {"release-request_id": "req-12345678"}).status_code == 409
    assert fake_temporal.signals == []


def test_a_comment_too_long_is_400(client, manager, fake_temporal, held):
    order = held()
    client.force_login(manager)
    response = client.post(f"/orders/{order.pk}/release-hold/", {"release-comment": "x" * 501})
    assert response.status_code == 400
    assert fake_temporal.signals == []


def test_the_order_page_offers_release_hold_to_an_approver(client, manager, fake_temporal, held):
    order = held()
    client.force_login(manager)
    html = client.get(order.get_absolute_url()).content.decode()
    assert "Release hold" in html and f"/orders/{order.pk}/release-hold/" in html


def test_the_workflow_checks_release_hold_as_an_approvers_action(manager, clerk, held):
    order = held()
    ok = actor_verify(ActorCheckInput(order_id=order.pk, actor="manager", action=holds.SIGNAL_RELEASE_HOLD))
    refused = actor_verify(ActorCheckInput(order_id=order.pk, actor="clerk", action=holds.SIGNAL_RELEASE_HOLD))
    assert ok.allowed and not refused.allowed
