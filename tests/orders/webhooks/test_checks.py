"""A provider's event counts only if the webhook intake stored it, for that order, with the content
the intake relays (orders.webhooks.checks, asked through approvals.identity.messages_confirm).

The digest of a check is made as the workflow makes it: of the message it
received, as its decoder reads it. The genuine message is the one the
intake's delivery sends for the stored row (recorded by the fake Temporal).
"""
from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import UTC, datetime

import pytest

from approvals import identity
from orders.webhooks import checks as webhook_checks
from orders.webhooks import services as webhooks
from orders.webhooks.models import WebhookEvent
from temporal_bridge.contract.intents import EventCheck, EventConfirmation, MessageChecks
from temporal_bridge.order import intents, payments, states
from temporal_bridge.order import message_checks as checks
from temporal_bridge.order.payments import PaymentEvent
from temporal_bridge.shipment import messages as shipment
from temporal_bridge.shipment.message_checks import carrier_event_digest, parse_carrier_event
from temporal_bridge.shipment.messages import CarrierEvent

pytestmark = pytest.mark.django_db

NOT_RECEIVED = "the desk received no such event from the provider"
DIFFERS = "differs from the event the provider sent"


def stored(provider: str, order, **body) -> WebhookEvent:
    """An event as the intake stores it, from the body a provider signs."""
    fields = webhooks.parse_event(provider, json.dumps({"order": order.number, **body}).encode())
    return WebhookEvent.objects.create(provider=provider, event_id=fields["id"], type=fields["type"], order=order,
                                       order_number=order.number, payload=fields)


def delivered(event: WebhookEvent, fake_temporal):
    """The message the intake's delivery sends for a stored event."""
    assert webhooks.webhook_deliver(event.pk).status == WebhookEvent.Delivery.DELIVERED
    return fake_temporal.signals[-1].payload


def check_of(provider: str, order_id: int, message) -> EventCheck:
    """The check the workflow makes of an event message it received."""
    if provider == payments.PROVIDER_PAYMENTS:
        read = checks.parse_payment_event([asdict(message)])
        return EventCheck(provider, order_id, read.event_id, read.kind, intents.payment_event_digest(read))
    read = parse_carrier_event([asdict(message)], datetime.now(UTC))
    return EventCheck(provider, order_id, read.event_id, read.status, carrier_event_digest(read))


def confirm(*event_checks) -> list[EventConfirmation]:
    return identity.messages_confirm(MessageChecks(events=list(event_checks))).events


@pytest.fixture
def order(make_order):
    return make_order(status=states.PROCESSING)


def test_a_payment_event_the_intake_stored_and_relayed_is_received(order, fake_temporal):
    event = stored(payments.PROVIDER_PAYMENTS, order, id="evt_1", type="payment.succeeded", reference="CAP-1")
    assert confirm(check_of(payments.PROVIDER_PAYMENTS, order.pk, delivered(event, fake_temporal))) == [EventConfirmation(True)]


def test_a_carrier_event_the_intake_stored_and_relayed_is_received(order, fake_temporal):
    event = stored(shipment.PROVIDER_CARRIER, order, id="evt_p1", type="parcel.delivered", at="2026-12-01T08:00:00", location="Leipzig")
    assert confirm(check_of(shipment.PROVIDER_CARRIER, order.pk, delivered(event, fake_temporal))) == [EventConfirmation(True)]


def test_an_event_the_intake_never_stored_is_not_received(order):
    forged = PaymentEvent(event_id="evt_forged", kind=payments.PAYMENT_SUCCEEDED, reference="CAP-1")
    assert confirm(check_of(payments.PROVIDER_PAYMENTS, order.pk, forged)) == [EventConfirmation(False, NOT_RECEIVED)]


def test_a_stored_event_claimed_for_another_order_or_as_another_kind_is_not_received(order, make_order, fake_temporal):
    genuine = delivered(stored(payments.PROVIDER_PAYMENTS, order, id="evt_1", type="payment.succeeded"), fake_temporal)
    other = make_order(status=states.PROCESSING)
    as_failure = replace(genuine, kind=payments.PAYMENT_FAILED)
    assert confirm(check_of(payments.PROVIDER_PAYMENTS, other.pk, genuine), check_of(payments.PROVIDER_PAYMENTS, order.pk, as_failure),
                   check_of(shipment.PROVIDER_CARRIER, order.pk, CarrierEvent(event_id="evt_1", status=shipment.PARCEL_DELIVERED))) == [
        EventConfirmation(False, NOT_RECEIVED)] * 3


@pytest.mark.parametrize(("provider", "body", "forge"), [
    (payments.PROVIDER_PAYMENTS, {"id": "evt_1", "type": "payment.failed", "reason": "Card declined"},
     {"reason": "Customer asked to skip payment"}),
    (payments.PROVIDER_PAYMENTS, {"id": "evt_2", "type": "payment.succeeded", "reference": "CAP-1"}, {"reference": "CAP-OTHER"}),
    (shipment.PROVIDER_CARRIER, {"id": "evt_p1", "type": "parcel.in_transit", "at": "2026-12-01T08:00:00+00:00", "location": "Leipzig"},
     {"location": "Somewhere else"}),
])
def test_a_stored_event_id_carrying_other_content_is_not_received(order, fake_temporal, provider, body, forge):
    genuine = delivered(stored(provider, order, **body), fake_temporal)
    assert confirm(check_of(provider, order.pk, replace(genuine, **forge))) == [EventConfirmation(False, DIFFERS)]


def test_when_the_desk_received_a_payment_event_is_not_part_of_its_content(order, fake_temporal):
    genuine = delivered(stored(payments.PROVIDER_PAYMENTS, order, id="evt_1", type="payment.succeeded"), fake_temporal)
    later = replace(genuine, received_at="2030-01-01T00:00:00+00:00")
    assert confirm(check_of(payments.PROVIDER_PAYMENTS, order.pk, later)) == [EventConfirmation(True)]


def test_events_of_a_batch_are_read_in_one_query_and_answered_in_order(order, fake_temporal, django_assert_num_queries):
    genuine = delivered(stored(payments.PROVIDER_PAYMENTS, order, id="evt_1", type="payment.succeeded"), fake_temporal)
    batch = [check_of(payments.PROVIDER_PAYMENTS, order.pk, PaymentEvent(event_id="evt_x", kind=payments.PAYMENT_SUCCEEDED)),
             check_of(payments.PROVIDER_PAYMENTS, order.pk, genuine)]
    with django_assert_num_queries(1):
        answers = webhook_checks.events_confirm(batch)
    assert [a.received for a in answers] == [False, True]


def test_the_delivery_and_the_check_build_the_relayed_message_alike(order, fake_temporal):
    event = stored(shipment.PROVIDER_CARRIER, order, id="evt_p1", type="parcel.exception", tracking_number="1Z0001")
    sent = delivered(event, fake_temporal)
    assert sent == webhooks.relayed_message(event)
    assert webhook_checks.relayed_digest(event) == check_of(shipment.PROVIDER_CARRIER, order.pk, sent).digest


@pytest.mark.parametrize("odd", [
    {"event_id": "evt\x00_1"},
    {"event_id": "e" * 100_000},
    {"event_id": ""},
    {"event_id": None},
    {"provider": "bank"},
    {"provider": None},
    {"kind": "refunded"},
    {"kind": shipment.PARCEL_DELIVERED},
    {"order_id": "1"},
    {"order_id": 2**80},
    {"digest": None},
])
def test_odd_event_checks_are_refused_without_asking_the_database(order, fake_temporal, django_assert_num_queries, odd):
    genuine = delivered(stored(payments.PROVIDER_PAYMENTS, order, id="evt_1", type="payment.succeeded"), fake_temporal)
    check = replace(check_of(payments.PROVIDER_PAYMENTS, order.pk, genuine), **odd)
    with django_assert_num_queries(0):
        assert confirm(check) == [EventConfirmation(False, NOT_RECEIVED)]
