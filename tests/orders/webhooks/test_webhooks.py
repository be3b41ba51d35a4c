"""Provider webhooks: signed intake, stored before the 2xx, delivered once,
waiting while Temporal is down and delivered later by reconcile_orders."""
from __future__ import annotations

import json
import time

import pytest
from django.core.management import call_command

from orders.delivery import services as parcels
from orders.operations.reconcile import reconcile
from orders.webhooks import services as webhooks
from orders.webhooks import signing as webhook_signing
from orders.webhooks.models import WebhookEvent
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import payments, states
from temporal_bridge.order.payments import PaymentEvent
from temporal_bridge.shipment import messages as shipment
from temporal_bridge.shipment.messages import CarrierEvent

pytestmark = pytest.mark.django_db

PAYMENTS_SECRET = "whsec_payments_test"
CARRIER_SECRET = "whsec_carrier_test"
Delivery = WebhookEvent.Delivery


@pytest.fixture(autouse=True)
def secrets(settings):
    settings.WEBHOOK_SECRETS = {payments.PROVIDER_PAYMENTS: PAYMENTS_SECRET, shipment.PROVIDER_CARRIER: CARRIER_SECRET}
    settings.WEBHOOK_TOLERANCE_SECONDS = 300


@pytest.fixture
def send(client, django_capture_on_commit_callbacks):
    """POST a signed event as the provider would; on-commit delivery runs as after a real commit."""

    def post(provider: str, body, *, secret: str | None = None, timestamp: int | None = None, signature: str | None = "sign"):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        secret = secret if secret is not None else (PAYMENTS_SECRET if provider == payments.PROVIDER_PAYMENTS else CARRIER_SECRET)
        headers = {}
        if signature == "sign":
            headers["HTTP_X_ORDERDESK_SIGNATURE"] = webhook_signing.sign(secret, raw, timestamp=timestamp)
        elif signature is not None:
            headers["HTTP_X_ORDERDESK_SIGNATURE"] = signature
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(f"/webhooks/{provider}/", data=raw, content_type="application/json", **headers)

    return post


def payment(order, event_id: str = "evt_1", kind: str = "payment.succeeded", **extra) -> dict:
    return {"id": event_id, "type": kind, "order": order.number, "reference": "CAP-ABC123", **extra}


def parcel(order, event_id: str = "evt_p1", kind: str = "parcel.in_transit", **extra) -> dict:
    return {"id": event_id, "type": kind, "order": order.number, "tracking_number": "1Z0001", "at": "2026-12-01T08:00:00+00:00",
            "location": "Leipzig hub", **extra}


# --- Signatures ---------------------------------------------------------------------------------


def test_a_signed_payment_event_is_stored_and_signalled_to_the_orders_workflow(send, fake_temporal, make_order):
    order = make_order(status=states.PROCESSING)
    response = send(payments.PROVIDER_PAYMENTS, payment(order))
    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "event": "evt_1"}
    event = WebhookEvent.objects.get()
    assert (event.order, event.type, event.status, event.attempts) == (order, "payment.succeeded", Delivery.DELIVERED, 1)
    [sent] = fake_temporal.signals
    assert (sent.order_id, sent.name) == (order.pk, payments.SIGNAL_PAYMENT_EVENT)
    assert (sent.payload.event_id, sent.payload.kind, sent.payload.reference) == ("evt_1", payments.PAYMENT_SUCCEEDED, "CAP-ABC123")


def test_a_carrier_event_goes_to_the_shipment_workflow(send, fake_temporal, make_order):
    order = make_order(status=states.IN_TRANSIT)
    assert send(shipment.PROVIDER_CARRIER, parcel(order, kind="parcel.delivered")).status_code == 200
    [sent] = fake_temporal.signals
    assert sent.name == shipment.SIGNAL_CARRIER_EVENT
    assert (sent.payload.status, sent.payload.location, sent.payload.at) == (shipment.PARCEL_DELIVERED, "Leipzig hub",
                                                                             "2026-12-01T08:00:00+00:00")


def test_the_shipment_signal_is_addressed_to_the_shipment_workflow_id(monkeypatch):
    sent = []
    monkeypatch.setattr(order_calls, "_signal_workflow", lambda wid, name, payload, timeout: sent.append((wid, name)))
    order_calls.signal_carrier_event(7, CarrierEvent(event_id="e", status=shipment.PARCEL_IN_TRANSIT))
    order_calls.signal_carrier_event(7, CarrierEvent(event_id="e", status=shipment.PARCEL_IN_TRANSIT), warehouse="EAST")
    order_calls.signal_payment_event(7, PaymentEvent(event_id="e", kind=payments.PAYMENT_FAILED))
    assert sent == [("order-7-shipment", shipment.SIGNAL_CARRIER_EVENT), ("order-7-shipment-EAST", shipment.SIGNAL_CARRIER_EVENT),
                    ("order-7", payments.SIGNAL_PAYMENT_EVENT)]


def split_parcels(order) -> None:
    """A split order whose two shipments have opened their parcels."""
    for warehouse in ("MAIN", "EAST"):
        parcels.parcel_open(order_id=order.pk, carrier="Parcelo", tracking_number=f"1Z0001-{warehouse}",
                            promised_by="2026-12-09T08:00:00+00:00", warehouse=warehouse)


def test_a_split_orders_carrier_event_goes_to_the_parcel_its_tracking_number_names(send, fake_temporal, make_order):
    order = make_order(status=states.IN_TRANSIT)
    split_parcels(order)
    assert send(shipment.PROVIDER_CARRIER, parcel(order, "p-east", tracking_number="1Z0001-EAST")).status_code == 200
    assert send(shipment.PROVIDER_CARRIER, parcel(order, "p-main", tracking_number="1Z0001-MAIN")).status_code == 200
    assert [(sent.payload.event_id, sent.warehouse) for sent in fake_temporal.signals] == [("p-east", "EAST"), ("p-main", "MAIN")]
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {Delivery.DELIVERED}


@pytest.mark.parametrize("tracking_number", ["1Z0001", "1Z0001-WEST", ""])
def test_a_split_orders_event_naming_none_of_its_parcels_waits_and_reaches_no_shipment(send, fake_temporal, make_order,
                                                                                        tracking_number):
    order = make_order(status=states.IN_TRANSIT)
    split_parcels(order)
    assert send(shipment.PROVIDER_CARRIER, parcel(order, tracking_number=tracking_number)).status_code == 200
    assert fake_temporal.signals == []
    event = WebhookEvent.objects.get()
    assert event.status == Delivery.PENDING and ("tracking number" in event.last_error)


def test_an_event_for_a_parcel_not_opened_yet_is_delivered_once_its_shipment_opens_it(send, fake_temporal, make_order):
    order = make_order(status=states.IN_TRANSIT)
    parcels.parcel_open(order_id=order.pk, carrier="Parcelo", tracking_number="1Z0001-MAIN", promised_by="", warehouse="MAIN")
    send(shipment.PROVIDER_CARRIER, parcel(order, "p-east", tracking_number="1Z0001-EAST"))
    assert WebhookEvent.objects.get().status == Delivery.PENDING and fake_temporal.signals == []

    parcels.parcel_open(order_id=order.pk, carrier="Parcelo", tracking_number="1Z0001-EAST", promised_by="", warehouse="EAST")
    assert webhooks.webhook_deliver_pending().delivered == 1
    assert [(sent.payload.event_id, sent.warehouse) for sent in fake_temporal.signals] == [("p-east", "EAST")]


@pytest.mark.parametrize("how", ["wrong secret", "missing", "malformed", "expired", "from the future"])
def test_a_request_not_signed_by_the_provider_recently_is_refused_and_not_stored(send, fake_temporal, make_order, how):
    order = make_order(status=states.PROCESSING)
    body = payment(order)
    if how == "wrong secret":
        response = send(payments.PROVIDER_PAYMENTS, body, secret="not-the-secret")
    elif how == "missing":
        response = send(payments.PROVIDER_PAYMENTS, body, signature=None)
    elif how == "malformed":
        response = send(payments.PROVIDER_PAYMENTS, body, signature="v1=abc")
    elif how == "expired":
        response = send(payments.PROVIDER_PAYMENTS, body, timestamp=int(time.time()) - 301)
    else:
        response = send(payments.PROVIDER_PAYMENTS, body, timestamp=int(time.time()) + 301)
    assert response.status_code == 401
    assert "Signature refused" in response.json()["error"]
    assert not WebhookEvent.objects.exists()
    assert fake_temporal.signals == []


def test_a_captured_request_replayed_after_the_tolerance_is_refused(client, send, fake_temporal, make_order, monkeypatch):
    order = make_order(status=states.PROCESSING)
    raw = json.dumps(payment(order, event_id="evt_replayed")).encode()
    header = webhook_signing.sign(PAYMENTS_SECRET, raw)
    assert send(payments.PROVIDER_PAYMENTS, raw, signature=header).status_code == 200
    WebhookEvent.objects.all().delete()  # even a forgotten event id does not let the old request back in
    later = time.time() + 301
    monkeypatch.setattr(webhook_signing.time, "time", lambda: later)
    response = send(payments.PROVIDER_PAYMENTS, raw, signature=header)
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_a_provider_rotating_its_secret_is_accepted_with_two_signatures(send, settings, fake_temporal, make_order):
    order = make_order(status=states.PROCESSING)
    raw = json.dumps(payment(order)).encode()
    t = int(time.time())
    old = webhook_signing.sign("old-secret", raw, timestamp=t).split(",")[1]
    new = webhook_signing.sign(PAYMENTS_SECRET, raw, timestamp=t).split(",")[1]
    assert send(payments.PROVIDER_PAYMENTS, raw, signature=f"t={t},{old},{new}").status_code == 200
    # Neither value made with the desk's secret: refused.
    other = webhook_signing.sign("third-secret", raw, timestamp=t).split(",")[1]
    assert send(payments.PROVIDER_PAYMENTS, json.dumps(payment(order, "evt_2")).encode(),
                signature=f"t={t},{old},{other}").status_code == 401


def test_a_provider_without_a_configured_secret_is_refused(send, settings, fake_temporal, make_order):
    settings.WEBHOOK_SECRETS = {payments.PROVIDER_PAYMENTS: "", shipment.PROVIDER_CARRIER: CARRIER_SECRET}
    order = make_order(status=states.PROCESSING)
    assert send(payments.PROVIDER_PAYMENTS, payment(order), secret="").status_code == 401
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("debug", [True, False])
def test_a_signed_post_to_the_url_without_its_trailing_slash_is_stored_and_answered(
        client, settings, django_capture_on_commit_callbacks, fake_temporal, make_order, debug):
    # Providers type the URL as their dashboards show it. Through APPEND_SLASH it was a 500 with DEBUG
    # (Django cannot redirect a POST) and elsewhere a redirect that drops the body, so the event was lost.
    settings.DEBUG = debug
    order = make_order(status=states.PROCESSING)
    raw = json.dumps(payment(order, event_id=f"evt_noslash_{debug}")).encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/webhooks/{payments.PROVIDER_PAYMENTS}", data=raw, content_type="application/json",
                               HTTP_X_ORDERDESK_SIGNATURE=webhook_signing.sign(PAYMENTS_SECRET, raw))
    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "event": f"evt_noslash_{debug}"}
    assert WebhookEvent.objects.get().status == Delivery.DELIVERED
    assert [sent.name for sent in fake_temporal.signals] == [payments.SIGNAL_PAYMENT_EVENT]


def test_an_unknown_provider_is_404(send, client):
    assert send("acme-bank", {"id": "x"}, secret="s").status_code == 404
    assert client.get("/webhooks/payments/").status_code == 405


# --- Malformed, oversized, floods -----------------------------------------------------------------


@pytest.mark.parametrize("body, error", [
    (b"{not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (b"[" * 5000 + b"]" * 5000, "not JSON"),
    (json.dumps({"id": "e", "type": "payment.succeeded"}).encode(), "'order' is required"),
    (json.dumps({"id": "e", "type": "payment.refunded", "order": "OD-1"}).encode(), "Unknown event type"),
    (json.dumps({"id": "e", "type": "payment.succeeded", "order": "OD-1", "amount": 5}).encode(), "Unknown fields: amount"),
    (json.dumps({"id": 12, "type": "payment.succeeded", "order": "OD-1"}).encode(), "must be a string"),
    (json.dumps({"id": "e\x00", "type": "payment.succeeded", "order": "OD-1"}).encode(), "control characters"),
    (json.dumps({"id": "e" * 101, "type": "payment.succeeded", "order": "OD-1"}).encode(), "longer than 100"),
])
def test_a_signed_body_that_is_not_an_event_is_400_and_not_stored(send, fake_temporal, body, error):
    response = send(payments.PROVIDER_PAYMENTS, body)
    assert response.status_code == 400
    assert error in response.json()["error"]
    assert not WebhookEvent.objects.exists()


def test_a_carrier_time_that_is_not_a_time_is_400(send, fake_temporal, make_order):
    response = send(shipment.PROVIDER_CARRIER, parcel(make_order(status=states.IN_TRANSIT), at="yesterday"))
    assert response.status_code == 400
    assert "ISO 8601" in response.json()["error"]


def test_a_body_over_the_size_cap_is_413_and_not_stored(send, settings, fake_temporal, make_order):
    settings.WEBHOOK_MAX_BODY_BYTES = 200
    order = make_order(status=states.PROCESSING)
    response = send(payments.PROVIDER_PAYMENTS, payment(order, reason="x" * 250))
    assert response.status_code == 413
    assert not WebhookEvent.objects.exists()


def test_a_flood_is_bounded_per_provider_with_retry_after(send, settings, fake_temporal, make_order):
    settings.WEBHOOK_PENDING_CAP = 2
    fake_temporal.unavailable = True  # nothing drains: every stored event stays pending
    order = make_order(status=states.PROCESSING)
    assert [send(payments.PROVIDER_PAYMENTS, payment(order, f"evt_{i}")).status_code for i in range(2)] == [200, 200]
    refused = send(payments.PROVIDER_PAYMENTS, payment(order, "evt_2"))
    assert refused.status_code == 503
    assert refused["Retry-After"] == str(settings.WEBHOOK_RETRY_AFTER_SECONDS)
    assert WebhookEvent.objects.count() == 2
    # A redelivery of a stored event is still acknowledged; the other provider is not affected.
    assert send(payments.PROVIDER_PAYMENTS, payment(order, "evt_0")).status_code == 200
    assert send(shipment.PROVIDER_CARRIER, parcel(order)).status_code == 200
    # Once delivered, the intake accepts again.
    fake_temporal.unavailable = False
    webhooks.webhook_deliver_pending()
    assert send(payments.PROVIDER_PAYMENTS, payment(order, "evt_2")).status_code == 200


# --- Once, and never lost ------------------------------------------------------------------------


def test_an_event_sent_twice_is_stored_once_and_delivered_once(send, fake_temporal, make_order):
    order = make_order(status=states.PROCESSING)
    first = send(payments.PROVIDER_PAYMENTS, payment(order))
    again = send(payments.PROVIDER_PAYMENTS, payment(order))
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["status"] == "duplicate"
    assert WebhookEvent.objects.count() == 1
    assert len(fake_temporal.signals) == 1


def test_the_same_event_id_from_two_providers_is_two_events(send, fake_temporal, make_order):
    order = make_order(status=states.IN_TRANSIT)
    send(payments.PROVIDER_PAYMENTS, payment(order, event_id="evt_same"))
    send(shipment.PROVIDER_CARRIER, parcel(order, event_id="evt_same"))
    assert WebhookEvent.objects.count() == 2
    assert [s.name for s in fake_temporal.signals] == [payments.SIGNAL_PAYMENT_EVENT, shipment.SIGNAL_CARRIER_EVENT]


def test_an_event_for_an_unknown_order_is_kept_and_answered_404(send, fake_temporal, make_order):
    response = send(payments.PROVIDER_PAYMENTS, {"id": "evt_early", "type": "payment.succeeded", "order": "OD-999999"})
    assert response.status_code == 404
    event = WebhookEvent.objects.get()
    assert (event.status, event.order, event.order_number) == (Delivery.UNKNOWN_ORDER, None, "OD-999999")
    assert fake_temporal.signals == []
    # The provider retries once the order exists: the kept event is linked and delivered, once.
    order = make_order(status=states.PROCESSING)
    event.order_number = order.number
    event.save(update_fields=["order_number"])
    retry = send(payments.PROVIDER_PAYMENTS, {"id": "evt_early", "type": "payment.succeeded", "order": order.number})
    assert retry.status_code == 200
    event.refresh_from_db()
    assert (event.status, event.order) == (Delivery.DELIVERED, order)
    assert len(fake_temporal.signals) == 1


def test_an_event_received_while_temporal_is_down_waits_and_reconcile_delivers_it(send, fake_temporal, make_order):
    order = make_order(status=states.PROCESSING)
    fake_temporal.unavailable = True
    response = send(payments.PROVIDER_PAYMENTS, payment(order, kind="payment.fraud_alert", reason="card reported stolen"))
    assert response.status_code == 200  # stored: the provider must not resend
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == (Delivery.PENDING, 1)
    assert "Temporal unavailable" in event.last_error

    # Still down: reconcile counts the attempt and leaves it waiting.
    assert reconcile().webhooks.still_pending == 1
    event.refresh_from_db()
    assert (event.status, event.attempts) == (Delivery.PENDING, 2)

    fake_temporal.unavailable = False
    call_command("reconcile_orders")
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == (Delivery.DELIVERED, 3, "")
    [sent] = fake_temporal.signals
    assert (sent.payload.kind, sent.payload.reason) == (payments.PAYMENT_FRAUD_ALERT, "card reported stolen")
    # A later run sends nothing again.
    reconcile()
    assert len(fake_temporal.signals) == 1


def test_reconcile_delivers_a_bounded_batch_oldest_first(send, settings, fake_temporal, make_order):
    order = make_order(status=states.PROCESSING)
    fake_temporal.unavailable = True
    for i in range(3):
        send(payments.PROVIDER_PAYMENTS, payment(order, f"evt_{i}"))
    fake_temporal.unavailable = False
    run = webhooks.webhook_deliver_pending(limit=2)
    assert run.delivered == 2
    assert [s.payload.event_id for s in fake_temporal.signals] == ["evt_0", "evt_1"]
    assert WebhookEvent.objects.get(event_id="evt_2").status == Delivery.PENDING


def test_a_run_stops_at_the_first_event_when_temporal_is_down(send, fake_temporal, make_order):
    order = make_order(status=states.PROCESSING)
    fake_temporal.unavailable = True
    for i in range(3):
        send(payments.PROVIDER_PAYMENTS, payment(order, f"evt_{i}"))
    run = webhooks.webhook_deliver_pending()
    assert run.temporal_unavailable and run.still_pending == 1
    assert sorted(WebhookEvent.objects.values_list("attempts", flat=True)) == [1, 1, 2]


def test_an_event_whose_workflow_is_not_running_yet_waits(send, fake_temporal, make_order):
    order = make_order(status=states.FULFILLED)  # shipped, the shipment workflow not yet started
    fake_temporal.not_found = True
    send(shipment.PROVIDER_CARRIER, parcel(order))
    event = WebhookEvent.objects.get()
    assert (event.status, event.last_error) == (Delivery.PENDING, "its workflow is not running yet")


def test_an_event_for_a_finished_order_without_workflow_fails_at_once(send, fake_temporal, make_order):
    order = make_order(status=states.CANCELLED)
    fake_temporal.not_found = True
    send(payments.PROVIDER_PAYMENTS, payment(order))
    event = WebhookEvent.objects.get()
    assert event.status == Delivery.FAILED
    assert "cancelled" in event.last_error


def test_an_event_undelivered_after_the_attempt_limit_is_failed(send, settings, fake_temporal, make_order):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    order = make_order(status=states.PROCESSING)
    fake_temporal.unavailable = True
    send(payments.PROVIDER_PAYMENTS, payment(order))
    assert webhooks.webhook_deliver_pending().failed == 1
    assert WebhookEvent.objects.get().status == Delivery.FAILED
    assert webhooks.webhook_deliver_pending().failed == 0  # failed events are not retried on their own


# --- The admin's webhook inbox ----------------------------------------------------------------


def test_staff_see_the_events_with_their_delivery_status_and_deliver_one_again(send, client, admin_user, fake_temporal, make_order):
    order = make_order()
    fake_temporal.unavailable = True
    assert send(payments.PROVIDER_PAYMENTS, payment(order, "evt_admin")).status_code == 200
    event = WebhookEvent.objects.get(event_id="evt_admin")
    assert event.status == Delivery.PENDING

    client.force_login(admin_user)
    listing = client.get("/admin/orders/webhookevent/?status=pending").content.decode()
    assert "evt_admin" in listing and order.number in listing

    fake_temporal.unavailable = False
    response = client.post("/admin/orders/webhookevent/", {"action": "deliver_again", "_selected_action": [event.pk]}, follow=True)
    assert response.status_code == 200
    event.refresh_from_db()
    assert event.status == Delivery.DELIVERED
    assert [(s.order_id, s.name) for s in fake_temporal.signals] == [(order.pk, payments.SIGNAL_PAYMENT_EVENT)]


def test_only_an_event_the_intake_stored_for_the_order_counts_as_received(send, fake_temporal, make_order):
    order, other = make_order(), make_order()
    assert send(payments.PROVIDER_PAYMENTS, payment(order, "evt_real")).status_code == 200

    assert webhooks.webhook_received(provider=payments.PROVIDER_PAYMENTS, event_id="evt_real", order_id=order.pk, kind="payment.succeeded")
    # A signal sent straight to Temporal names an event the desk never received, or another order's, or another kind.
    assert not webhooks.webhook_received(provider=payments.PROVIDER_PAYMENTS, event_id="evt_forged", order_id=order.pk,
                                         kind="payment.succeeded")
    assert not webhooks.webhook_received(provider=payments.PROVIDER_PAYMENTS, event_id="evt_real", order_id=other.pk,
                                         kind="payment.succeeded")
    assert not webhooks.webhook_received(provider=payments.PROVIDER_PAYMENTS, event_id="evt_real", order_id=order.pk, kind="payment.failed")
