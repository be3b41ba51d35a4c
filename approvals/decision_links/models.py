"""The e-mail decision links: only a hash of each link's secret is stored."""
from __future__ import annotations

from django.conf import settings
from django.db import models


class DecisionLink(models.Model):
    """One link in one approver's e-mail: "Approve order OD-42" or "Reject…".

    Bound to that approver, that order and that decision; used once; dead after
    `expires_at`, or as soon as the order leaves the approver's hands (checked
    when it is opened: decided, delegated, cancelled). The secret in the URL is
    never stored, only its SHA-256.
    """

    class Decision(models.TextChoices):
        APPROVED = "approved", "Approve"
        REJECTED = "rejected", "Reject"

    token_hash = models.CharField(max_length=64, unique=True)
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="decision_links")
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="decision_links")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    # The request id the decision is sent with: a repeated POST is the same request.
    request_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["order", "approver"], name="decision_link_order_idx")]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} {self.order_id} for {self.approver_id}"
