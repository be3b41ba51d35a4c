"""Taking and returning an order's money: capture (possibly awaiting the
provider's confirmation), confirm or fail it from the provider's webhook, and
refund. Each is one transaction and idempotent, like every step of an order:
the ledger (PaymentTransaction) holds at most one capture and one refund per
order, and the gateway is asked with the same idempotency key on a retry.
"""
from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders.exceptions import PaymentMismatch
from orders.models import Order, OrderLine, StockReservation
from orders.payments.gateway import gateway
from orders.payments.models import PaymentTransaction
from orders.steps import locked_order


def payment_needs_confirmation(total: Decimal) -> bool:
    """Large payments are confirmed by the provider later, by webhook (as 3-D Secure or a bank's review would)."""
    threshold = settings.PAYMENT_CONFIRMATION_ABOVE
    return threshold > 0 and total > threshold


@transaction.atomic(savepoint=False)
def payment_capture(*, order_id: int, idempotency_key: str) -> PaymentTransaction:
    """Capture the order's total, once. Above settings.PAYMENT_CONFIRMATION_ABOVE
    the capture is recorded as awaiting the provider's confirmation."""
    order = locked_order(order_id)
    existing = PaymentTransaction.objects.filter(order=order, kind=PaymentTransaction.Kind.CAPTURE).first()
    if existing:
        return existing
    reference = gateway().capture(
        customer_credit_limit=order.customer.credit_limit, amount=order.total, currency=order.currency, idempotency_key=idempotency_key,
    )
    awaiting = payment_needs_confirmation(order.total)
    return PaymentTransaction.objects.create(
        order=order, kind=PaymentTransaction.Kind.CAPTURE, amount=order.total, currency=order.currency,
        idempotency_key=idempotency_key, provider_reference=reference,
        status=PaymentTransaction.Status.AWAITING_CONFIRMATION if awaiting else PaymentTransaction.Status.CAPTURED,
        settled_at=None if awaiting else timezone.now(),
    )


def _capture_for(order: Order, reference: str) -> PaymentTransaction:
    capture = PaymentTransaction.objects.select_for_update().filter(order=order, kind=PaymentTransaction.Kind.CAPTURE).first()
    if capture is None:
        raise PaymentMismatch(f"Order {order.number} has no payment to confirm.")
    if capture.provider_reference != reference:
        raise PaymentMismatch(f"The provider's reference {reference[:64]!r} is not the payment of order {order.number}.")
    return capture


@transaction.atomic(savepoint=False)
def payment_confirm(*, order_id: int, reference: str) -> PaymentTransaction:
    """The provider confirmed the payment (the workflow accepted its webhook).

    Idempotent: a confirmed payment stays as it is. A payment that already
    failed is not revived: the row comes back failed and the caller decides.
    PaymentMismatch when the reference is not the order's payment.
    """
    capture = _capture_for(locked_order(order_id), reference)
    if capture.status == PaymentTransaction.Status.AWAITING_CONFIRMATION:
        capture.status, capture.settled_at = PaymentTransaction.Status.CAPTURED, timezone.now()
        capture.save(update_fields=["status", "settled_at"])
    return capture


@transaction.atomic(savepoint=False)
def payment_fail(*, order_id: int, reference: str, reason: str) -> PaymentTransaction:
    """The provider failed the payment. Idempotent; a captured payment is not
    undone here (that is a refund): the row comes back captured."""
    capture = _capture_for(locked_order(order_id), reference)
    if capture.status == PaymentTransaction.Status.AWAITING_CONFIRMATION:
        capture.status, capture.settled_at = PaymentTransaction.Status.FAILED, timezone.now()
        capture.status_reason = (reason.strip() or "failed by the payment provider")[:300]
        capture.save(update_fields=["status", "status_reason", "settled_at"])
    return capture


@transaction.atomic(savepoint=False)
def payment_refund(*, order_id: int, idempotency_key: str) -> PaymentTransaction | None:
    """Refund the order's capture, once. None when nothing was captured."""
    order = locked_order(order_id)
    capture = PaymentTransaction.objects.filter(order=order, kind=PaymentTransaction.Kind.CAPTURE).first()
    if capture is None or capture.status == PaymentTransaction.Status.FAILED:
        return None
    if capture.status == PaymentTransaction.Status.AWAITING_CONFIRMATION:
        # Nothing was taken yet: the payment is voided, not refunded.
        capture.status, capture.settled_at = PaymentTransaction.Status.FAILED, timezone.now()
        capture.status_reason = "voided: the order was cancelled before the provider confirmed"
        capture.save(update_fields=["status", "status_reason", "settled_at"])
        return None
    existing = PaymentTransaction.objects.filter(order=order, kind=PaymentTransaction.Kind.REFUND).first()
    if existing:
        return existing
    # What shipped before a cancel stays paid for: a split order cancelled between its parcels is refunded the rest.
    amount = capture.amount - shipped_value(order)
    if amount <= 0:
        return None
    reference = gateway().refund(amount=amount, currency=capture.currency, idempotency_key=idempotency_key)
    return PaymentTransaction.objects.create(
        order=order, kind=PaymentTransaction.Kind.REFUND, amount=amount, currency=capture.currency,
        idempotency_key=idempotency_key, provider_reference=reference,
    )


def shipped_value(order: Order) -> Decimal:
    """The value of the order's lines that have left a warehouse (a line ships whole, from one)."""
    shipped = StockReservation.objects.filter(order=order, status=StockReservation.Status.SHIPPED).values_list("product_id", flat=True)
    lines = OrderLine.objects.filter(order=order, dropped=False, product_id__in=list(shipped))
    return sum((line.unit_price * line.quantity for line in lines), Decimal("0"))
