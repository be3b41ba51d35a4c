"""The outside world, end to end: real signed webhooks into the web
app, a real Temporal dev server and worker, the real database.

An order whose payment needs the provider's confirmation waits for the
payment webhook, ships, follows its parcel through the carrier's webhooks
and reaches `delivered`. A webhook received while Temporal is stopped is
kept, answered 2xx, and delivered by reconcile_orders once Temporal is back.
"""
from __future__ import annotations

import json
import time
import uuid

import pytest
from django.test import Client

from orders.models import Order
from orders.operations.reconcile import reconcile
from orders.payments.models import PaymentTransaction
from orders.webhooks import signing as webhook_signing
from orders.webhooks.models import WebhookEvent
from temporal_bridge.client.bridge import bridge
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import payments, states
from temporal_bridge.runtime import devserver
from temporal_bridge.shipment import messages as shipment
from tests.integration.stack import WorkerThread, free_port
from tests.integration.test_lifecycle import submit, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SECRETS = {payments.PROVIDER_PAYMENTS: "whsec_payments_e2e", shipment.PROVIDER_CARRIER: "whsec_carrier_e2e"}


@pytest.fixture
def outside_world(settings):
    settings.WEBHOOK_SECRETS = dict(SECRETS)
    settings.PAYMENT_CONFIRMATION_ABOVE = 1  # every order's payment waits for the provider
    settings.ORDER_DESK_TRACK_DELIVERY = True
    settings.ORDER_FULFILMENT_STEP_SECONDS = 0.05


def post(provider: str, body: dict) -> int:
    """POST a webhook exactly as the provider would: JSON body, signed header."""
    raw = json.dumps(body).encode()
    signature = webhook_signing.sign(SECRETS[provider], raw)
    response = Client().post(f"/webhooks/{provider}/", data=raw, content_type="application/json",
                             **{webhook_signing.SIGNATURE_META: signature})
    return response.status_code


def state(order_id: int) -> str | None:
    try:
        return order_calls.query_order(order_id).state
    except Exception:  # noqa: BLE001 - not answering yet
        return None


def step(order_id: int) -> str:
    try:
        return order_calls.query_order(order_id).step
    except Exception:  # noqa: BLE001
        return ""


def captured_reference(order: Order) -> str:
    return PaymentTransaction.objects.get(order=order, kind=PaymentTransaction.Kind.CAPTURE).provider_reference


def test_an_order_reaches_delivered_through_signed_payment_and_carrier_webhooks(stack, outside_world, clerk, customer, widget):
    order = submit(clerk, customer, widget, 1)  # small: auto-approved
    wait_for(lambda: step(order.pk) == "Waiting for the payment provider's confirmation", what="the payment to wait")

    event = {"id": f"evt_{uuid.uuid4().hex[:8]}", "type": "payment.succeeded", "order": order.number,
             "reference": captured_reference(order)}
    assert post(payments.PROVIDER_PAYMENTS, event) == 200
    assert post(payments.PROVIDER_PAYMENTS, event) == 200  # the provider retries: applied once
    wait_for(lambda: state(order.pk) == states.IN_TRANSIT, what="in transit")

    order.refresh_from_db()
    for n, kind in enumerate(("parcel.in_transit", "parcel.out_for_delivery", "parcel.delivered")):
        parcel = {"id": f"c-{order.pk}-{n}", "type": kind, "order": order.number, "tracking_number": order.tracking_number,
                  "at": f"2026-12-0{n + 1}T08:00:00+00:00", "location": "Leipzig"}
        assert post(shipment.PROVIDER_CARRIER, parcel) == 200
    wait_for(lambda: state(order.pk) == states.DELIVERED, what="delivered")

    order.refresh_from_db()
    assert order.status == states.DELIVERED
    assert PaymentTransaction.objects.get(order=order, kind=PaymentTransaction.Kind.CAPTURE).status == PaymentTransaction.Status.CAPTURED
    assert WebhookEvent.objects.filter(order=order).count() == 4
    assert set(WebhookEvent.objects.filter(order=order).values_list("status", flat=True)) == {WebhookEvent.Delivery.DELIVERED}
    assert order.parcels.get().status == shipment.PARCEL_DELIVERED


def test_a_webhook_received_while_temporal_is_stopped_is_kept_and_delivered_after_it_comes_back(
        settings, outside_world, clerk, customer, widget, tmp_path):
    port, ui_port = free_port(), free_port()
    db_file = tmp_path / "temporal.db"

    def start_server():
        process = devserver.start_dev_server(host="127.0.0.1", port=port, ui_port=ui_port, db_file=db_file)
        devserver.wait_for_port("127.0.0.1", port, timeout=60, process=process)
        return process

    server = start_server()
    settings.TEMPORAL_ADDRESS, settings.TEMPORAL_TASK_QUEUE = f"127.0.0.1:{port}", f"it-{uuid.uuid4().hex[:8]}"
    settings.ORDER_DESK_TRACK_DELIVERY = False
    bridge.reset()
    worker = WorkerThread(settings.TEMPORAL_ADDRESS, settings.TEMPORAL_TASK_QUEUE).start()
    try:
        order = submit(clerk, customer, widget, 1)
        wait_for(lambda: step(order.pk) == "Waiting for the payment provider's confirmation", what="the payment to wait")
        reference = captured_reference(order)

        server.terminate()  # Temporal goes away; the web app stays up
        server.wait(timeout=20)
        event = {"id": "evt_outage", "type": "payment.succeeded", "order": order.number, "reference": reference}
        assert post(payments.PROVIDER_PAYMENTS, event) == 200, "kept and acknowledged: the provider must not retry forever"
        kept = WebhookEvent.objects.get(event_id="evt_outage")
        assert kept.status == WebhookEvent.Delivery.PENDING

        server = start_server()  # same database file: the order's workflow is still there
        deadline = time.monotonic() + 60
        while WebhookEvent.objects.get(pk=kept.pk).status != WebhookEvent.Delivery.DELIVERED and time.monotonic() < deadline:
            reconcile()  # what the scheduled `manage.py reconcile_orders` does
            time.sleep(1)
        assert WebhookEvent.objects.get(pk=kept.pk).status == WebhookEvent.Delivery.DELIVERED
        wait_for(lambda: state(order.pk) == states.FULFILLED, timeout=60, what="fulfilled after the outage")
    finally:
        worker.stop()
        bridge.reset()
        server.terminate()
        server.wait(timeout=20)
