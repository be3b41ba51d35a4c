"""The provider simulator: what it chooses to send for given orders (pure),
what it reads from the database, and what reaches the web app over HTTP."""
from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from orders.delivery import services as parcels
from orders.payments.models import PaymentTransaction
from orders.webhooks import signing as webhook_signing
from orders.webhooks import simulator as provider_simulator
from orders.webhooks.simulator import Parcel, PendingPayment, Simulator
from temporal_bridge.order import states
from tests.integration.stack import free_port
from tests.orders.webhooks import capture_urls as webhook_capture_urls


def send_all(simulator: Simulator, payments, parcels, now: float) -> list[str]:
    """The event types due at `now`, marked sent as the tick does after the desk answers."""
    due = simulator.due(payments, parcels, now)
    simulator.sent.update(webhook.event_id for webhook in due)
    return [webhook.body["type"] for webhook in due]


def pending(order_id: int, status: str = states.PROCESSING) -> PendingPayment:
    return PendingPayment(order_id=order_id, number=f"OD-{order_id:06d}", reference=f"CAP-{order_id}", order_status=status)


# --- choosing what to send -----------------------------------------------------------------------

def test_a_pending_payment_is_confirmed_once_after_the_delay():
    simulator = Simulator(payment_delay=3, fraud_every=7)
    assert send_all(simulator, [pending(1)], [], now=100) == []
    assert send_all(simulator, [pending(1)], [], now=102) == []
    due = simulator.due([pending(1)], [], now=103)
    assert [w.body for w in due] == [{"id": "sim-1-payment.succeeded", "type": "payment.succeeded", "order": "OD-000001",
                                      "reference": "CAP-1", "reason": ""}]
    assert due[0].provider == "payments"
    simulator.sent.add(due[0].event_id)
    assert send_all(simulator, [pending(1)], [], now=200) == []


def test_every_seventh_order_gets_a_fraud_alert_and_is_confirmed_only_after_its_hold_is_released():
    simulator = Simulator(payment_delay=0, fraud_every=7)
    payments = [pending(n) for n in range(1, 15)]
    first = simulator.due(payments, [], now=0)
    alerts = sorted(w.body["order"] for w in first if w.body["type"] == "payment.fraud_alert")
    assert alerts == ["OD-000007", "OD-000014"]
    assert len(first) == 14
    simulator.sent.update(w.event_id for w in first)
    # Sent, not yet on hold (the desk has not applied it): nothing more for order 7.
    assert send_all(simulator, [pending(7)], [], now=5) == []
    assert send_all(simulator, [pending(7, states.ON_HOLD)], [], now=10) == []
    # A manager released it; the payment still awaits the provider, who now confirms it.
    assert send_all(simulator, [pending(7, states.PROCESSING)], [], now=15) == ["payment.succeeded"]


def test_fraud_alerts_can_be_turned_off():
    simulator = Simulator(payment_delay=0, fraud_every=0)
    assert send_all(simulator, [pending(7), pending(14)], [], now=0) == ["payment.succeeded", "payment.succeeded"]


def test_a_parcel_moves_through_its_journey_on_the_clock_each_event_once():
    simulator = Simulator(parcel_step=10)
    parcel = Parcel(order_id=3, number="OD-000003", tracking_number="1Z0003")
    assert send_all(simulator, [], [parcel], now=50) == []
    assert send_all(simulator, [], [parcel], now=60) == ["parcel.in_transit"]
    assert send_all(simulator, [], [parcel], now=65) == []
    assert send_all(simulator, [], [parcel], now=70) == ["parcel.out_for_delivery"]
    due = simulator.due([], [parcel], now=80)
    assert [w.body["type"] for w in due] == ["parcel.delivered"]
    body = due[0].body
    assert (due[0].provider, body["id"], body["order"]) == ("carrier", "sim-3-parcel.delivered", "OD-000003")
    assert body["tracking_number"] == "1Z0003"
    assert body["location"] in provider_simulator.CITIES and body["at"]
    simulator.sent.add(due[0].event_id)
    assert send_all(simulator, [], [parcel], now=500) == []


def test_a_late_look_sends_the_missed_parcel_events_in_order():
    simulator = Simulator(parcel_step=10)
    parcel = Parcel(order_id=4, number="OD-000004", tracking_number="1Z0004")
    send_all(simulator, [], [parcel], now=0)
    assert send_all(simulator, [], [parcel], now=45) == ["parcel.in_transit", "parcel.out_for_delivery", "parcel.delivered"]


# --- reading the database ------------------------------------------------------------------------

def test_only_orders_in_transit_with_a_tracking_number_are_parcels(make_order):
    moving = make_order(status=states.IN_TRANSIT, tracking_number="1Z0001")
    make_order(status=states.IN_TRANSIT, tracking_number="")
    make_order(status=states.FULFILLED, tracking_number="1Z0003")
    make_order(status=states.DELIVERED, tracking_number="1Z0004")
    assert provider_simulator.parcels_in_transit() == [Parcel(moving.pk, moving.number, "1Z0001")]


def test_each_parcel_of_a_split_order_travels_with_its_own_tracking_number_and_event_ids(make_order):
    split = make_order(status=states.IN_TRANSIT, tracking_number="1Z0005")
    for warehouse in ("MAIN", "EAST"):
        parcels.parcel_open(order_id=split.pk, carrier="Parcelo", tracking_number=f"1Z0005-{warehouse}", promised_by="",
                            warehouse=warehouse)
    found = provider_simulator.parcels_in_transit()
    assert found == [Parcel(split.pk, split.number, "1Z0005-MAIN", "MAIN"), Parcel(split.pk, split.number, "1Z0005-EAST", "EAST")]

    simulator = Simulator(parcel_step=10)
    simulator.due([], found, now=0)
    due = simulator.due([], found, now=10)
    assert [(w.body["id"], w.body["tracking_number"]) for w in due] == [
        (f"sim-{split.pk}-MAIN-parcel.in_transit", "1Z0005-MAIN"), (f"sim-{split.pk}-EAST-parcel.in_transit", "1Z0005-EAST")]


def test_a_partially_shipped_orders_followed_parcels_travel_and_no_parcel_is_made_up_for_the_part_not_shipped(make_order):
    partial = make_order(status=states.PARTIALLY_SHIPPED, tracking_number="1Z0006")
    assert provider_simulator.parcels_in_transit() == [], "no parcel followed yet: nothing to move"
    parcels.parcel_open(order_id=partial.pk, carrier="Parcelo", tracking_number="1Z0006-MAIN", promised_by="", warehouse="MAIN")
    assert provider_simulator.parcels_in_transit() == [Parcel(partial.pk, partial.number, "1Z0006-MAIN", "MAIN")]


@pytest.mark.skipif("status" not in {f.name for f in PaymentTransaction._meta.get_fields()},
                    reason="the payment record's confirmation status comes with the payments branch")
def test_only_payments_awaiting_confirmation_are_pending(make_order):
    waiting, confirmed = make_order(status=states.PROCESSING), make_order(status=states.PROCESSING)
    for order, status in ((waiting, provider_simulator.AWAITING_CONFIRMATION), (confirmed, "captured")):
        PaymentTransaction.objects.create(order=order, kind="capture", amount=order.total, currency="USD",
                                          idempotency_key=f"cap-{order.pk}", provider_reference=f"CAP-{order.pk}", status=status)
    assert provider_simulator.pending_payments() == [PendingPayment(waiting.pk, waiting.number, f"CAP-{waiting.pk}", states.PROCESSING)]


# --- over HTTP -----------------------------------------------------------------------------------

@pytest.fixture
def secrets(monkeypatch, settings):
    monkeypatch.setenv("WEBHOOK_SECRET_PAYMENTS", "test-payments-secret")
    monkeypatch.setenv("WEBHOOK_SECRET_CARRIER", "test-carrier-secret")
    settings.WEBHOOK_SECRETS = {}
    webhook_capture_urls.received.clear()
    webhook_capture_urls.answers.clear()
    return {"payments": "test-payments-secret", "carrier": "test-carrier-secret"}


@pytest.mark.urls("tests.orders.webhooks.capture_urls")
def test_run_once_sends_signed_carrier_webhooks_that_reach_the_web_app(live_server, make_order, secrets):
    order = make_order(status=states.IN_TRANSIT, tracking_number="1Z0042")
    call_command("simulate_providers", base_url=live_server.url, once=True, parcel_step=0, payment_delay=0)

    received = webhook_capture_urls.received
    assert [r["provider"] for r in received] == ["carrier", "carrier", "carrier"]
    bodies = [json.loads(r["body"]) for r in received]
    assert [b["type"] for b in bodies] == ["parcel.in_transit", "parcel.out_for_delivery", "parcel.delivered"]
    assert {(b["order"], b["tracking_number"]) for b in bodies} == {(order.number, "1Z0042")}
    assert len({b["id"] for b in bodies}) == 3
    for request in received:
        # Signed with the carrier's secret over the exact bytes that arrived; the payments secret does not verify it.
        webhook_signing.verify(secrets["carrier"], request["body"], request["signature"])
        with pytest.raises(webhook_signing.BadSignature):
            webhook_signing.verify(secrets["payments"], request["body"], request["signature"])
        assert request["content_type"] == "application/json"


@pytest.mark.urls("tests.orders.webhooks.capture_urls")
def test_a_refusal_is_noted_not_retried_and_a_web_app_that_is_down_is_tried_again(live_server, make_order, secrets):
    make_order(status=states.IN_TRANSIT, tracking_number="1Z0043")
    simulator = Simulator(parcel_step=0)

    # Nothing listens there: no exception, nothing counted as sent.
    assert provider_simulator.tick(simulator, f"http://127.0.0.1:{free_port()}", now=0) == []
    assert simulator.sent == set()

    # The desk refuses (an order it does not know): the simulator goes on and does not send it again.
    webhook_capture_urls.answers["carrier"] = 404
    results = provider_simulator.tick(simulator, live_server.url, now=1)
    assert [status for _webhook, status in results] == [404, 404, 404]
    assert provider_simulator.tick(simulator, live_server.url, now=2) == []
    assert len(webhook_capture_urls.received) == 3


@pytest.mark.urls("tests.orders.webhooks.capture_urls")
def test_a_failing_web_app_is_tried_again_next_tick(live_server, make_order, secrets):
    make_order(status=states.IN_TRANSIT, tracking_number="1Z0044")
    simulator = Simulator(parcel_step=0)
    webhook_capture_urls.answers["carrier"] = 503
    assert provider_simulator.tick(simulator, live_server.url, now=0) == []
    webhook_capture_urls.answers["carrier"] = 202
    assert [w.body["type"] for w, status in provider_simulator.tick(simulator, live_server.url, now=1)] == [
        "parcel.in_transit", "parcel.out_for_delivery", "parcel.delivered"]


def test_the_command_refuses_to_run_without_secrets(monkeypatch, settings):
    monkeypatch.delenv("WEBHOOK_SECRET_PAYMENTS", raising=False)
    monkeypatch.setenv("WEBHOOK_SECRET_CARRIER", "x")
    settings.WEBHOOK_SECRETS = {}
    with pytest.raises(CommandError, match="WEBHOOK_SECRET_PAYMENTS"):
        call_command("simulate_providers", base_url="http://127.0.0.1:1", once=True)
