"""Payments the provider confirms later: the charge step records them as
awaiting confirmation, payment_confirm / payment_fail settle them once, and
the page says what the order waits for."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils.html import escape
from temporalio.testing import ActivityEnvironment

from orders.exceptions import PaymentMismatch
from orders.payments import services as payments
from orders.payments.models import PaymentTransaction
from orders.timeline.mirror import PAYMENT_WAITING_STEP, mirror_snapshot
from temporal_bridge.order import activities as acts
from temporal_bridge.order import states
from temporal_bridge.order.payments import PaymentInput
from temporal_bridge.order.records import StepRecord

Status = PaymentTransaction.Status


@pytest.fixture(autouse=True)
def confirmation_above_1000(settings):
    settings.PAYMENT_CONFIRMATION_ABOVE = Decimal("1000")


def capture_of(order) -> PaymentTransaction:
    return PaymentTransaction.objects.get(order=order, kind=PaymentTransaction.Kind.CAPTURE)


@pytest.mark.django_db(transaction=True)
def test_the_charge_step_of_a_large_order_requires_confirmation_and_says_so(make_order, server):
    order = make_order(product=server, quantity=2)  # 2,000.00
    record = StepRecord(key="0004-payment", kind="payment")
    result = ActivityEnvironment().run(acts.charge_payment, PaymentInput(order.pk, f"{order.workflow_id}-capture", record))
    assert result.status == "requires_confirmation"
    capture = capture_of(order)
    assert (capture.status, capture.provider_reference) == (Status.AWAITING_CONFIRMATION, result.provider_reference)
    assert capture.settled_at is None
    assert order.events.get().message == (f"Payment of 2000.00 USD submitted (ref {result.provider_reference}); "
                                          "waiting for the provider's confirmation")


@pytest.mark.django_db(transaction=True)
def test_the_charge_step_of_a_small_order_captures_at_once(make_order):
    order = make_order(quantity=3)  # 30.00
    result = ActivityEnvironment().run(acts.charge_payment, PaymentInput(order.pk, "cap-small"))
    assert result.status == "captured"
    assert capture_of(order).status == Status.CAPTURED


@pytest.mark.django_db
def test_zero_turns_confirmation_off(settings, make_order, server):
    settings.PAYMENT_CONFIRMATION_ABOVE = Decimal("0")
    order = make_order(product=server, quantity=5)
    assert payments.payment_capture(order_id=order.pk, idempotency_key="k").status == Status.CAPTURED


@pytest.mark.django_db
def test_a_confirmation_captures_the_payment_once(make_order, server):
    order = make_order(product=server, quantity=2)
    reference = payments.payment_capture(order_id=order.pk, idempotency_key="k").provider_reference
    first = payments.payment_confirm(order_id=order.pk, reference=reference)
    settled_at = first.settled_at
    again = payments.payment_confirm(order_id=order.pk, reference=reference)
    assert (first.status, again.status, again.settled_at) == (Status.CAPTURED, Status.CAPTURED, settled_at)
    assert settled_at is not None
    # A late failure does not undo a captured payment (that would be a refund).
    assert payments.payment_fail(order_id=order.pk, reference=reference, reason="late").status == Status.CAPTURED


@pytest.mark.django_db
def test_a_failure_marks_the_payment_failed_once_with_its_reason(make_order, server):
    order = make_order(product=server, quantity=2)
    reference = payments.payment_capture(order_id=order.pk, idempotency_key="k").provider_reference
    payments.payment_fail(order_id=order.pk, reference=reference, reason="insufficient funds")
    payments.payment_fail(order_id=order.pk, reference=reference, reason="another reason")
    capture = capture_of(order)
    assert (capture.status, capture.status_reason) == (Status.FAILED, "insufficient funds")
    # A confirmation after the failure does not revive it.
    assert payments.payment_confirm(order_id=order.pk, reference=reference).status == Status.FAILED
    # Nothing was taken: cancelling refunds nothing.
    assert payments.payment_refund(order_id=order.pk, idempotency_key="r") is None
    assert not PaymentTransaction.objects.filter(order=order, kind=PaymentTransaction.Kind.REFUND).exists()


@pytest.mark.django_db
def test_a_confirmation_with_another_reference_or_without_a_payment_is_refused(make_order, server):
    order = make_order(product=server, quantity=2)
    # The services make no savepoint of their own (their activity's transaction fails whole): carrying on after
    # an error, as this test does, takes one.
    with pytest.raises(PaymentMismatch), transaction.atomic():
        payments.payment_confirm(order_id=order.pk, reference="CAP-ANY")
    payments.payment_capture(order_id=order.pk, idempotency_key="k")
    with pytest.raises(PaymentMismatch), transaction.atomic():
        payments.payment_confirm(order_id=order.pk, reference="CAP-NOT-THIS-ONE")
    with pytest.raises(PaymentMismatch), transaction.atomic():
        payments.payment_fail(order_id=order.pk, reference="CAP-NOT-THIS-ONE", reason="x")
    assert capture_of(order).status == Status.AWAITING_CONFIRMATION


@pytest.mark.django_db
def test_cancelling_while_waiting_voids_the_payment_instead_of_refunding(make_order, server):
    order = make_order(product=server, quantity=2)
    payments.payment_capture(order_id=order.pk, idempotency_key="k")
    assert payments.payment_refund(order_id=order.pk, idempotency_key="r") is None
    capture = capture_of(order)
    assert capture.status == Status.FAILED and capture.status_reason.startswith("voided")


@pytest.mark.django_db
def test_the_order_page_shows_the_wait_for_the_provider(client, manager, fake_temporal, make_order, server):
    order = make_order(product=server, quantity=2, status=states.PROCESSING)
    payments.payment_capture(order_id=order.pk, idempotency_key="k")
    client.force_login(manager)
    shown = escape(PAYMENT_WAITING_STEP)
    # The workflow's own step text, as its query answers...
    fake_temporal.snapshot = lambda order_id: replace(mirror_snapshot(order), step="Waiting for the payment provider's confirmation")
    assert shown in client.get(order.get_absolute_url()).content.decode()
    # ...and the same from the mirror when no worker answers.
    fake_temporal.unavailable = True
    page = client.get(order.get_absolute_url()).content.decode()
    assert shown in page
