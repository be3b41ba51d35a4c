"""The webhook inbox: every event a provider sent, kept before it is answered.

An event is stored in the same transaction as the provider's 2xx, so nothing
acknowledged is ever lost; its delivery to a workflow is tracked here
(pending until the signal is sent, retried by reconcile_orders).
"""
from __future__ import annotations

from django.db import models
from django.utils import timezone

from temporal_bridge.order.payments import PROVIDER_PAYMENTS
from temporal_bridge.shipment.messages import PROVIDER_CARRIER


class WebhookEvent(models.Model):
    class Provider(models.TextChoices):
        PAYMENTS = PROVIDER_PAYMENTS, "Payment provider"
        CARRIER = PROVIDER_CARRIER, "Carrier"
        # Restocks from the warehouses' system (orders.webhooks.restocks): applied as received, about no order.
        INVENTORY = "inventory", "Inventory system"

    class Delivery(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        UNKNOWN_ORDER = "unknown_order", "Unknown order"

    provider = models.CharField(max_length=20, choices=Provider.choices)
    event_id = models.CharField(max_length=100)
    type = models.CharField(max_length=40)
    # Null when the provider named an order the desk does not have; the number it gave is kept.
    order = models.ForeignKey("orders.Order", on_delete=models.SET_NULL, null=True, blank=True, related_name="webhook_events")
    order_number = models.CharField(max_length=40)
    # The validated fields of the event (only the ones the desk knows), as received.
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=20, choices=Delivery.choices, default=Delivery.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            # A provider's redelivery of the same event is recognised, and applied once.
            models.UniqueConstraint(fields=["provider", "event_id"], name="webhookevent_once_per_provider_id"),
        ]
        indexes = [
            # The flood cap counts, and reconcile_orders reads oldest first, the undelivered of a status.
            models.Index(fields=["status", "provider", "received_at"], name="webhookevent_status_idx"),
            models.Index(fields=["order", "type"], name="webhookevent_order_type_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.type} {self.event_id}"
