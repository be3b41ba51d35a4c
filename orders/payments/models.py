"""The payment ledger's table: captures and refunds, each at most once per order."""
from __future__ import annotations

from django.db import models


class PaymentTransaction(models.Model):
    """The payment ledger: captures and refunds, each at most once per order."""

    class Kind(models.TextChoices):
        CAPTURE = "capture", "Capture"
        REFUND = "refund", "Refund"

    class Status(models.TextChoices):
        CAPTURED = "captured", "Captured"
        AWAITING_CONFIRMATION = "awaiting_confirmation", "Awaiting the provider's confirmation"
        FAILED = "failed", "Failed"

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="payments")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    idempotency_key = models.CharField(max_length=100, unique=True)
    provider_reference = models.CharField(max_length=64)
    # A capture the provider has to confirm (by webhook) waits as awaiting_confirmation;
    # the workflow settles it through orders.payments.services.payment_confirm / payment_fail.
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.CAPTURED)
    status_reason = models.CharField(max_length=300, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "kind"], name="payment_one_capture_one_refund_per_order"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency} for {self.order}"
