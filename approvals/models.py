"""Approval decisions, mirrored from the workflow once it has accepted them."""
from __future__ import annotations

from django.conf import settings
from django.db import models


class ApprovalDecision(models.Model):
    class Decision(models.TextChoices):
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="decisions")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="approval_decisions")
    # The username as the workflow recorded it, kept even if the user is renamed.
    approver_username = models.CharField(max_length=150)
    decision = models.CharField(max_length=10, choices=Decision.choices)
    comment = models.TextField(blank=True)
    # The request id the browser sent: a repeated POST is the same decision.
    request_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["order", "created_at"], name="decision_order_time_idx")]

    def __str__(self) -> str:
        return f"{self.order} {self.decision} by {self.approver_username}"
