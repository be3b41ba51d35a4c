"""The business steps an order's workflow performs through its activities:
reserve and release stock (per warehouse: orders.inventory), ship, email the customer (taking and returning
the money is orders.payments.services). Each is one transaction, idempotent (an activity may run twice, its
effect happens once), and raises a business error the workflow turns into a
non-retryable failure.

Their transactions make no savepoint when nested (`savepoint=False`, here and in
the services they call: inventory, payments, the credit check). An activity runs
each inside its own transaction with the step's timeline entries, and an error
in any of them fails that whole transaction, which the activity's retry runs
again: a savepoint would only add two round trips per call. A caller that
catches their errors and carries on must give them a savepoint of its own.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.core.mail import send_mail
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from orders.exceptions import OrderNotFound
from orders.inventory import services as inventory
from orders.models import CustomerNotification, Order
from temporal_bridge.order.split_plan import SplitPlan


@transaction.atomic(savepoint=False)
def stock_reserve(*, order_id: int, keep_available: bool = False) -> tuple[SplitPlan, str]:
    """Reserve the lines' units in the warehouses the split plan chooses: all or nothing, or what some warehouse holds."""
    return inventory.stock_reserve(order=locked_order(order_id), keep_available=keep_available)


@transaction.atomic(savepoint=False)
def stock_release(*, order_id: int) -> int:
    """Give back the units an order holds. Returns how many were released now."""
    return inventory.stock_release(order=locked_order(order_id))


CARRIER = "Order Desk Freight"


@dataclass(frozen=True)
class Shipped:
    tracking_number: str
    carrier: str
    # A split order's parcels, (warehouse code, tracking number) in the warehouses' order; empty for one parcel.
    parcels: list[tuple[str, str]]


@transaction.atomic(savepoint=False)
def order_ship(*, order_id: int) -> Shipped:
    """Hand the reserved units to the carrier: one parcel per warehouse that ships part of the order.

    The order's tracking number is made once; a split order's parcels are
    numbered from it by warehouse, so a retried step names the same parcels."""
    order = locked_order(order_id)
    inventory.stock_ship(order=order)
    if not order.tracking_number:
        order.tracking_number = f"1Z{order.pk:08d}{secrets.token_hex(4).upper()}"
        Order.objects.filter(pk=order.pk).update(tracking_number=order.tracking_number, updated_at=timezone.now())
    warehouses = inventory.shipped_from(order_id=order.pk)
    parcels = [(code, f"{order.tracking_number}-{code}") for code in warehouses] if len(warehouses) > 1 else []
    return Shipped(order.tracking_number, CARRIER, parcels)


def fulfilments_to_ship(*, order_id: int) -> list[str]:
    """The warehouses whose part of the order has not shipped yet, in the order they are packed and shipped."""
    return inventory.held_in(order_id=order_id)


@transaction.atomic(savepoint=False)
def fulfilment_ship(*, order_id: int, warehouse: str) -> Shipped:
    """Hand one warehouse's part of a split order to the carrier: its parcel, numbered from the order's tracking number.

    Idempotent: run again, nothing more leaves the warehouse and the parcel keeps its number."""
    order = locked_order(order_id)
    inventory.stock_ship(order=order, warehouse=warehouse)
    if not order.tracking_number:
        order.tracking_number = f"1Z{order.pk:08d}{secrets.token_hex(4).upper()}"
        Order.objects.filter(pk=order.pk).update(tracking_number=order.tracking_number, updated_at=timezone.now())
    return Shipped(order.tracking_number, CARRIER, [(warehouse, f"{order.tracking_number}-{warehouse}")])


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
    with transaction.atomic(savepoint=False):
        order = locked_order(order_id)
        subject = NOTIFICATION_SUBJECTS[kind].format(number=order.number)
        if not _notification_recorded(order=order, kind=kind, idempotency_key=idempotency_key, subject=subject):
            return False
        context = {"order": order, "kind": kind, "reason": reason, "lines": order.lines.select_related("product")}
        send_mail(
            subject=subject,
            message=render_to_string("emails/order_notification.txt", context),
            from_email=None,
            recipient_list=[order.customer.email],
        )
    return True


def _notification_recorded(*, order: Order, kind: str, idempotency_key: str, subject: str) -> bool:
    """Write the email's marker row unless the key has one already: one statement, True when the row is new.

    The unique key (notification_once_per_key) decides, so a second run, or a write that got in some other
    way, inserts nothing and sends nothing."""
    table = connection.ops.quote_name(CustomerNotification._meta.db_table)
    sent_at = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (order_id, kind, idempotency_key, recipient, subject, sent_at) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (order_id, idempotency_key) DO NOTHING RETURNING id",
            [order.pk, kind, idempotency_key, order.customer.email, subject, sent_at],
        )
        return cursor.fetchone() is not None


class _OrderLockHeld:
    """An on_commit marker saying this transaction holds the order's row lock.

    Django drops the on_commit callbacks registered inside a savepoint when it
    rolls back to it, and all of them when the transaction ends: exactly when
    PostgreSQL lets go of a row lock. So while the marker is listed, the lock
    is held, and the step's own timeline write need not ask for it again."""

    def __init__(self, order_id: int) -> None:
        self.order_id = order_id

    def __call__(self) -> None:
        pass


def order_lock_held(order_id: int) -> bool:
    """Whether this transaction already holds the order's row lock (taken by order_lock or locked_order)."""
    conn = transaction.get_connection()
    return conn.in_atomic_block and any(
        isinstance(func, _OrderLockHeld) and func.order_id == order_id for _, func, _ in conn.run_on_commit)


def order_lock(order_id: int) -> None:
    """Lock the order's row for this transaction, reading nothing of it (the mirror's writes need no more)."""
    if order_lock_held(order_id):
        return
    if not Order.objects.select_for_update().filter(pk=order_id).values_list("pk", flat=True):
        raise OrderNotFound(f"Order {order_id} does not exist")
    transaction.on_commit(_OrderLockHeld(order_id))


def locked_order(order_id: int) -> Order:
    """The order, locked for this transaction (select_for_update)."""
    try:
        # Only the order's row: a step of one order must not hold up the customer's other orders
        # (the credit check locks the customer itself, orders.holds).
        order = Order.objects.select_for_update(of=("self",)).select_related("customer").get(pk=order_id)
    except Order.DoesNotExist as err:
        raise OrderNotFound(f"Order {order_id} does not exist") from err
    transaction.on_commit(_OrderLockHeld(order_id))
    return order
