"""The order's timeline: its audit trail, one row per entry the workflow (or a person) recorded."""
from __future__ import annotations

from django.db import models
from django.utils import timezone


class OrderEvent(models.Model):
    """One entry of an order's audit trail.

    Written by idempotent activities: the (order, idempotency_key) pair is
    unique, so a retried or replayed activity never writes an entry twice.
    """

    class Kind(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        STATUS = "status", "Status change"
        DECISION = "decision", "Decision"
        UPDATE = "update", "Update"
        STOCK = "stock", "Stock"
        PAYMENT = "payment", "Payment"
        FULFILMENT = "fulfilment", "Fulfilment"
        SHIPMENT = "shipment", "Shipment"
        NOTIFICATION = "notification", "Notification"
        COMPENSATION = "compensation", "Compensation"
        NOTE = "note", "Note"
        ERROR = "error", "Error"
        REMINDER = "reminder", "Reminder"
        ESCALATION = "escalation", "Escalation"
        SERVICE_LEVEL = "service_level", "Service level"
        HOLD = "hold", "Hold"
        HOLD_RELEASED = "hold_released", "Hold released"
        COMMENT = "comment", "Comment"
        QUESTION = "question", "Question"
        ANSWER = "answer", "Answer"
        STOCK_WAIT = "stock_wait", "Waiting for a stock decision"
        STOCK_DECIDED = "stock_decided", "Stock decision"

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    message = models.CharField(max_length=500)
    actor = models.CharField(max_length=150, blank=True)
    idempotency_key = models.CharField(max_length=100)
    # The state the entry moved the order to, if it did: the mirror's record of
    # the order's transitions, from which its service levels are computed.
    # db_default: rows written by bulk loaders and raw inserts (exports, benches) need no value.
    status = models.CharField(max_length=20, blank=True, default="", db_default="")
    # When the workflow appended the entry (a step writes the entries that
    # waited for it with their own times), else when it was written.
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "idempotency_key"], name="orderevent_once_per_key"),
        ]
        # The audit export reads the whole trail in (time, id) order: without
        # this, PostgreSQL sorts every entry before sending the first row.
        indexes = [models.Index(fields=["created_at", "id"], name="orderevent_time_id_idx")]

    def __str__(self) -> str:
        return f"{self.order} {self.kind}: {self.message}"
