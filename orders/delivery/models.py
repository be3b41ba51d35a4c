"""The parcel's mirror and the operations tasks.

Parcel and ParcelEvent are what the shipment workflow has recorded (its
activities write them through orders.delivery.services), so the order page and list
read the database, never Temporal per row. OperationsTask is a to-do for the
operations staff; parcels raise them today, other parts of the desk may too.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models

from temporal_bridge.shipment import messages as shipment

PARCEL_SHIPPED = "shipped"


class ParcelStatus(models.TextChoices):
    SHIPPED = PARCEL_SHIPPED, "Shipped"
    IN_TRANSIT = shipment.PARCEL_IN_TRANSIT, "In transit"
    OUT_FOR_DELIVERY = shipment.PARCEL_OUT_FOR_DELIVERY, "Out for delivery"
    DELIVERED = shipment.PARCEL_DELIVERED, "Delivered"
    EXCEPTION = shipment.PARCEL_EXCEPTION, "Exception"
    RETURNED = shipment.PARCEL_RETURNED, "Returned"
    UNTRACKED = shipment.PARCEL_UNTRACKED, "No longer tracked"


class Parcel(models.Model):
    """One parcel of an order: the whole order, or one fulfilment (warehouse) of a split order."""

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="parcels")
    # The warehouse that shipped it, for a split order's parcel; blank for an order that ships as one parcel.
    warehouse = models.CharField(max_length=12, blank=True, default="")
    carrier = models.CharField(max_length=60)
    tracking_number = models.CharField(max_length=40)
    status = models.CharField(max_length=20, choices=ParcelStatus.choices, default=ParcelStatus.SHIPPED)
    location = models.CharField(max_length=200, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    promised_by = models.DateTimeField(null=True, blank=True)
    # Set once, when the promise passed before delivery; stays set afterwards.
    promise_missed = models.BooleanField(default=False)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["order", "warehouse"], name="parcel_once_per_fulfilment")]
        indexes = [
            # The list's "late parcels" filter.
            models.Index(fields=["promise_missed", "status"], name="parcel_late_idx"),
            # A carrier's event names its parcel by tracking number.
            models.Index(fields=["tracking_number"], name="parcel_tracking_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}"


class ParcelEvent(models.Model):
    """One carrier event as received; a redelivered event id is stored once."""

    parcel = models.ForeignKey(Parcel, on_delete=models.CASCADE, related_name="events")
    event_id = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=ParcelStatus.choices)
    at = models.DateTimeField()
    location = models.CharField(max_length=200, blank=True)
    description = models.CharField(max_length=500, blank=True)
    # False when the event arrived after a newer one and did not move the parcel.
    counted = models.BooleanField(default=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [models.UniqueConstraint(fields=["parcel", "event_id"], name="parcelevent_once_per_event_id")]

    def __str__(self) -> str:
        return f"{self.parcel} {self.status} at {self.at:%Y-%m-%d %H:%M}"


class OperationsTask(models.Model):
    """Something an operator must look at and resolve."""

    class Kind(models.TextChoices):
        PARCEL_EXCEPTION = "parcel_exception", "Parcel exception"
        PARCEL_RETURNED = "parcel_returned", "Parcel returned"
        PARCEL_LATE = "parcel_late", "Parcel late"
        PARCEL_UNTRACKED = "parcel_untracked", "Parcel no longer tracked"

    # Null for a task about the desk as a whole (not about one order).
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="operations_tasks", null=True, blank=True)
    kind = models.CharField(max_length=40, choices=Kind.choices)
    text = models.CharField(max_length=500)
    # Raised by retried activities: the same key is one task.
    key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["created_at", "id"]
        # The operations page lists the open ones, oldest first.
        indexes = [models.Index(fields=["resolved_at", "created_at"], name="opstask_open_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.text}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
