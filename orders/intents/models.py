"""The intent row: one per (order, request id), never per request id alone.

A request id is unique only within its order: a page renders fresh ids, but
the bulk decisions and the intake API derive theirs, and an id scoped wider
than its order would let one order's record hide another's.

Imported by orders.models so Django registers it with the orders app.
"""
from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from temporal_bridge.order import messages as m

MAX_SIGNAL = 30
HEX_DIGEST = RegexValidator(r"^[0-9a-f]{64}\Z", "A digest is 64 lowercase hexadecimal characters.")


class RecordedIntent(models.Model):
    """A person's request as the desk authorised it, before it was signalled.

    Written once and never changed: a double POST reuses it, a different
    request under the same id for the same order is refused.
    """

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="recorded_intents")
    request_id = models.CharField(max_length=m.MAX_REQUEST_ID)
    actor = models.CharField(max_length=m.MAX_ACTOR)
    on_behalf_of = models.CharField(max_length=m.MAX_ACTOR, blank=True)
    signal = models.CharField(max_length=MAX_SIGNAL)
    # temporal_bridge.order.intents.message_digest of the message as the workflow decodes it.
    digest = models.CharField(max_length=64, validators=[HEX_DIGEST])
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "request_id"], name="recordedintent_once_per_order_request"),
        ]

    def __str__(self) -> str:
        return f"{self.signal} by {self.actor} on order {self.order_id} ({self.request_id})"
