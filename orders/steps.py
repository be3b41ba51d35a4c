"""The business steps an order's workflow performs through its activities:
reserve and release stock, capture and refund payment, ship, email the
customer. Each is one transaction, idempotent (an activity may run twice, its
effect happens once), and raises a business error the workflow turns into a
non-retryable failure.
"""
from __future__ import annotations

import secrets
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from orders.exceptions import OrderNotFound, OutOfStock, PaymentMismatch
from orders.models import CustomerNotification, Order, Product, StockReservation
from orders.payments.gateway import gateway
from orders.payments.models import PaymentTransaction


@transaction.atomic
def stock_reserve(*, order_id: int) -> tuple[int, int]:
    """Reserve every line's units, all or nothing. Returns (lines, units)."""
    order = locked_order(order_id)
    existing = {r.product_id: r for r in order.reservations.all()}
    lines = list(order.lines.select_related("product").order_by("product_id"))
    units = 0
    for line in lines:
        units += line.quantity
        if line.product_id in existing:
            continue
        # Lock products in a fixed order (by id) so concurrent orders never deadlock.
        product = Product.objects.select_for_update().get(pk=line.product_id)
        if product.stock_available < line.quantity:
            raise OutOfStock(f"Out of stock: {product.sku} has {product.stock_available} available, the order needs {line.quantity}")
        Product.objects.filter(pk=product.pk).update(stock_reserved=F("stock_reserved") + line.quantity)
        StockReservation.objects.create(order=order, product=product, quantity=line.quantity)
    return len(lines), units


def held_reservations(order_id: int):
    """The order's held reservations, locked, in product order (as stock_reserve locks products: no deadlock)."""
    held = StockReservation.objects.filter(order_id=order_id, status=StockReservation.Status.HELD)
    return held.select_for_update().order_by("product_id")


@transaction.atomic
def stock_release(*, order_id: int) -> int:
    """Give back the units an order holds. Returns how many were released now."""
    locked_order(order_id)
    released = 0
    for reservation in held_reservations(order_id):
        Product.objects.filter(pk=reservation.product_id).update(stock_reserved=F("stock_reserved") - reservation.quantity)
        reservation.status = StockReservation.Status.RELEASED
        reservation.save(update_fields=["status", "updated_at"])
        released += reservation.quantity
    return released


@transaction.atomic
def order_ship(*, order_id: int) -> tuple[str, str]:
    """Hand the reserved units to the carrier. Returns (tracking number, carrier)."""
    order = locked_order(order_id)
    for reservation in held_reservations(order_id):
        Product.objects.filter(pk=reservation.product_id).update(
            stock_on_hand=F("stock_on_hand") - reservation.quantity,
            stock_reserved=F("stock_reserved") - reservation.quantity,
        )
        reservation.status = StockReservation.Status.SHIPPED
        reservation.save(update_fields=["status", "updated_at"])
    if not order.tracking_number:
        order.tracking_number = f"1Z{order.pk:08d}{secrets.token_hex(4).upper()}"
        Order.objects.filter(pk=order.pk).update(tracking_number=order.tracking_number, updated_at=timezone.now())
    return order.tracking_number, "Order Desk Freight"


def payment_needs_confirmation(total: Decimal) -> bool:
    """Large payments are confirmed by the provider later, by webhook (as 3-D Secure or a bank's review would)."""
    threshold = settings.PAYMENT_CONFIRMATION_ABOVE
    return threshold > 0 and total > threshold


@transaction.atomic
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


@transaction.atomic
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


@transaction.atomic
def payment_fail(*, order_id: int, reference: str, reason: str) -> PaymentTransaction:
    """The provider failed the payment. Idempotent; a captured payment is not
    undone here (that is a refund): the row comes back captured."""
    capture = _capture_for(locked_order(order_id), reference)
    if capture.status == PaymentTransaction.Status.AWAITING_CONFIRMATION:
        capture.status, capture.settled_at = PaymentTransaction.Status.FAILED, timezone.now()
        capture.status_reason = (reason.strip() or "failed by the payment provider")[:300]
        capture.save(update_fields=["status", "status_reason", "settled_at"])
    return capture


@transaction.atomic
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
    reference = gateway().refund(amount=capture.amount, currency=capture.currency, idempotency_key=idempotency_key)
    return PaymentTransaction.objects.create(
        order=order, kind=PaymentTransaction.Kind.REFUND, amount=capture.amount, currency=capture.currency,
        idempotency_key=idempotency_key, provider_reference=reference,
    )


NOTIFICATION_SUBJECTS = {
    "fulfilled": "Your order {number} has shipped",
    "rejected": "Your order {number} was not approved",
    "cancelled": "Your order {number} was cancelled",
    "expired": "Your order {number} expired",
    "failed": "We could not complete your order {number}",
    "delivered": "Your order {number} was delivered",
    "returned": "Your order {number} came back to us",
}


def customer_notify(*, order_id: int, kind: str, idempotency_key: str, reason: str = "") -> bool:
    """Email the customer about their order, at most once per key.

    The marker row and the email share one transaction: if sending fails the
    marker is rolled back and the activity's retry sends again.
    """
    if kind not in NOTIFICATION_SUBJECTS:
        raise ValueError(f"unknown notification kind {kind!r}")
    with transaction.atomic():
        order = locked_order(order_id)
        subject = NOTIFICATION_SUBJECTS[kind].format(number=order.number)
        try:
            with transaction.atomic():
                CustomerNotification.objects.create(
                    order=order, kind=kind, idempotency_key=idempotency_key, recipient=order.customer.email, subject=subject,
                )
        except IntegrityError:
            return False
        context = {"order": order, "kind": kind, "reason": reason, "lines": order.lines.select_related("product")}
        send_mail(
            subject=subject,
            message=render_to_string("emails/order_notification.txt", context),
            from_email=None,
            recipient_list=[order.customer.email],
        )
    return True


def locked_order(order_id: int) -> Order:
    """The order, locked for this transaction (select_for_update)."""
    try:
        return Order.objects.select_for_update().select_related("customer").get(pk=order_id)
    except Order.DoesNotExist as err:
        raise OrderNotFound(f"Order {order_id} does not exist") from err
