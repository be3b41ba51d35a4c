"""Writes and reads of the parcel's mirror and of operations tasks.

The shipment workflow's activities call the writes (each idempotent: a
retried activity changes nothing twice); the order pages and the operations
page call the reads. Keyword-only, typed, one transaction each.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from orders.delivery.models import OperationsTask, Parcel, ParcelEvent, ParcelStatus
from orders.exceptions import OrderError, OrderNotFound
from orders.models import Order
from temporal_bridge.order import states
from temporal_bridge.order.fulfilment_states import NOT_SHIPPED, order_state_from, parcels_text
from temporal_bridge.shipment import messages as shipment


@dataclass(frozen=True)
class CarrierEventRecord:
    event_id: str
    status: str
    at: datetime
    location: str = ""
    description: str = ""


def _when(value: str) -> datetime | None:
    at = parse_datetime(value) if value else None
    if at is not None and timezone.is_naive(at):
        at = timezone.make_aware(at, timezone.UTC)
    return at


def _locked_parcel(order_id: int, warehouse: str = "", *, carrier: str = "", tracking_number: str = "") -> Parcel:
    """The order's parcel (a split order's: the one from `warehouse`), locked for this transaction; made if missing."""
    if not Order.objects.filter(pk=order_id).exists():
        raise OrderNotFound(f"Order {order_id} does not exist")
    parcel, _ = Parcel.objects.select_for_update().get_or_create(
        order_id=order_id, warehouse=warehouse[:12], defaults={"carrier": carrier, "tracking_number": tracking_number})
    return parcel


def _named(parcel: Parcel, number: str) -> str:
    return f"Parcel of {number} from {parcel.warehouse}" if parcel.warehouse else f"Parcel of {number}"


@transaction.atomic
def parcel_open(*, order_id: int, carrier: str, tracking_number: str, promised_by: str, warehouse: str = "") -> Parcel:
    """The parcel of a shipped order (or of one warehouse's fulfilment), as its shipment workflow starts
    (its status is left alone if it exists)."""
    parcel = _locked_parcel(order_id, warehouse, carrier=carrier, tracking_number=tracking_number)
    parcel.carrier, parcel.tracking_number, parcel.promised_by = carrier[:60], tracking_number[:40], _when(promised_by)
    parcel.save(update_fields=["carrier", "tracking_number", "promised_by", "updated_at"])
    return parcel


@transaction.atomic
def parcel_record_event(*, order_id: int, event: CarrierEventRecord, status: str, warehouse: str = "") -> bool:
    """Store a carrier event and move the parcel to `status` (the workflow's
    verdict: unchanged for an event that arrived late). An exception that
    counts and a return each raise an operations task in the same
    transaction. False when the event was already stored."""
    parcel = _locked_parcel(order_id, warehouse)
    counted = status == event.status
    stored, created = ParcelEvent.objects.get_or_create(parcel=parcel, event_id=event.event_id, defaults={
        "status": event.status, "at": event.at, "location": event.location, "description": event.description, "counted": counted,
    })
    if not created:
        return False
    fields = ["status", "updated_at"]
    parcel.status = status
    if counted:
        parcel.location = event.location or parcel.location
        parcel.last_event_at = max(filter(None, [parcel.last_event_at, event.at]))
        fields += ["location", "last_event_at"]
    if status == shipment.PARCEL_DELIVERED:
        parcel.delivered_at = event.at
        fields.append("delivered_at")
    parcel.save(update_fields=fields)
    number = Order.objects.values_list("number", flat=True).get(pk=order_id)
    where = f" at {event.location}" if event.location else ""
    detail = f": {event.description}" if event.description else ""
    if counted and status == shipment.PARCEL_EXCEPTION:
        operations_task_raise(order_id=order_id, kind=OperationsTask.Kind.PARCEL_EXCEPTION, key=f"parcel-event-{stored.pk}",
                              text=f"{_named(parcel, number)} ({parcel.tracking_number}) held by the carrier{where}{detail}")
    if status == shipment.PARCEL_RETURNED:
        operations_task_raise(order_id=order_id, kind=OperationsTask.Kind.PARCEL_RETURNED, key=f"parcel-{parcel.pk}-returned",
                              text=f"{_named(parcel, number)} ({parcel.tracking_number}) returned to sender{where}{detail}")
    return True


@transaction.atomic
def parcel_mark_untracked(*, order_id: int, how: str, warehouse: str = "") -> bool:
    """The parcel's shipment workflow was stopped from outside before the journey ended (an operator
    terminated it in the Temporal UI): mark the parcel as no longer tracked and raise one task to
    check it with the carrier. False (nothing changed) if the journey had already ended."""
    parcel = _locked_parcel(order_id, warehouse)
    if parcel.status in (ParcelStatus.DELIVERED, ParcelStatus.RETURNED, ParcelStatus.UNTRACKED):
        return False
    parcel.status = ParcelStatus.UNTRACKED
    parcel.save(update_fields=["status", "updated_at"])
    number = Order.objects.values_list("number", flat=True).get(pk=order_id)
    operations_task_raise(
        order_id=order_id, kind=OperationsTask.Kind.PARCEL_UNTRACKED, key=f"parcel-{parcel.pk}-untracked",
        text=f"{_named(parcel, number)} ({parcel.tracking_number}) no longer tracked: its shipment workflow was {how[:120]} "
             "outside the desk, so its carrier events are not followed; check it with the carrier")
    return True


@transaction.atomic
def parcel_flag_late(*, order_id: int, promised_by: str, warehouse: str = "") -> bool:
    """The promise passed before delivery: flag the parcel, raise a "Parcel
    late" task and email the operations staff, once. The email is sent
    inside the transaction: if it fails, nothing is flagged and the
    activity's retry tries again (an escalation must not be lost)."""
    parcel = _locked_parcel(order_id, warehouse)
    if parcel.promise_missed:
        return False
    parcel.promise_missed = True
    parcel.save(update_fields=["promise_missed", "updated_at"])
    number = Order.objects.values_list("number", flat=True).get(pk=order_id)
    promised = _when(promised_by)
    text = (f"{_named(parcel, number)} ({parcel.carrier} {parcel.tracking_number}) not delivered by "
            f"{promised:%Y-%m-%d %H:%M} UTC" if promised else f"{_named(parcel, number)} not delivered within its promise")
    operations_task_raise(order_id=order_id, kind=OperationsTask.Kind.PARCEL_LATE, key=f"parcel-{parcel.pk}-late",
                          text=f"{text}; last seen: {ParcelStatus(parcel.status).label.lower()}")
    recipients = list(get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="").values_list("email", flat=True))
    if recipients:
        send_mail(subject=f"Parcel late: {number}", message=f"{text}.\n\nThe task is on the operations page.",
                  from_email=None, recipient_list=recipients)
    return True


# --- Operations tasks --------------------------------------------------------------------


def operations_task_raise(*, order_id: int | None, kind: str, key: str, text: str) -> OperationsTask:
    """An open task for operations; raising the same key again returns the first."""
    task, _ = OperationsTask.objects.get_or_create(key=key[:200], defaults={"order_id": order_id, "kind": kind, "text": text[:500]})
    return task


@transaction.atomic
def operations_task_resolve(*, task_id: int, user: AbstractBaseUser) -> OperationsTask:
    try:
        task = OperationsTask.objects.select_for_update().get(pk=task_id)
    except OperationsTask.DoesNotExist as err:
        raise OrderError("No such operations task.") from err
    if task.resolved_at is not None:
        by = task.resolved_by.get_username() if task.resolved_by else "someone"
        raise OrderError(f"This task was already resolved by {by}.")
    task.resolved_at, task.resolved_by = timezone.now(), user
    task.save(update_fields=["resolved_at", "resolved_by"])
    return task


def open_operations_tasks() -> QuerySet[OperationsTask]:
    return OperationsTask.objects.filter(resolved_at__isnull=True).select_related("order").order_by("created_at", "id")


def parcels_for(order: Order) -> list[Parcel]:
    """The order's parcels with their events: none (no tracked shipment), one, or one per warehouse of a split order."""
    return parcels_for_order_id(order.pk)


def parcels_for_order_id(order_id: int) -> list[Parcel]:
    return list(Parcel.objects.filter(order_id=order_id).order_by("id").prefetch_related("events"))


def parcel_for_order_id(order_id: int, warehouse: str = "") -> Parcel | None:
    return Parcel.objects.filter(order_id=order_id, warehouse=warehouse).prefetch_related("events").first()


class NoSuchParcel(OrderError):
    """A carrier's event names a tracking number none of the order's parcels has."""


def parcel_warehouse_for(*, order_id: int, tracking_number: str) -> str:
    """Which of the order's parcels a carrier's event is about, by its tracking number: that parcel's
    warehouse ("" for an order shipped as one parcel). An order of several parcels needs the number."""
    rows = list(Parcel.objects.filter(order_id=order_id).values_list("warehouse", "tracking_number"))
    if not any(warehouse for warehouse, _ in rows):
        return ""  # one parcel (or none opened yet): the order's own shipment
    for warehouse, tracked in rows:
        if tracking_number and tracked == tracking_number:
            return warehouse
    raise NoSuchParcel(f"no parcel of this order has tracking number {tracking_number[:40]!r}" if tracking_number
                       else "the order ships in several parcels and the event names no tracking number")


# A fulfilment's stock, as the reservation rows say (StockReservation.Status), in the rule's words:
# still held in its warehouse is not shipped yet; released (by a cancel) will never ship and is left out.
PART_STATUS = {"held": NOT_SHIPPED, "shipped": "shipped"}


def delivery_state(parcels: list[Parcel], fulfilments: Sequence[tuple[str, str]] = ()) -> tuple[str | None, str]:
    """The order's delivery state (the workflow's own rule) and each part in words, from its parcels
    and, for a split order, its fulfilments as (warehouse, reservation status): a part shipped without
    a followed parcel (delivery not tracked) counts as shipped, one still held as not shipped yet."""
    pairs = [(parcel.warehouse, parcel.status) for parcel in parcels]
    followed = {warehouse for warehouse, _ in pairs}
    pairs += [(code, PART_STATUS[status]) for code, status in fulfilments if code not in followed and status in PART_STATUS]
    return order_state_from(pairs), parcels_text(pairs)


def delivery_summary(parcels: list[Parcel], fulfilments: Sequence[tuple[str, str]] = ()) -> str:
    """A split order's delivery in one line ("In transit: MAIN delivered, EAST shipped"; "Partially shipped:
    MAIN in transit, EAST not shipped yet"); "" for one parcel or none, or while no part has shipped."""
    state, text = delivery_state(parcels, fulfilments)
    return f"{states.LABELS.get(state, state)}: {text}" if state and text else ""
