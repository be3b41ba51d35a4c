"""A customer's data key and the record of an erasure.

Neither table holds personal data: the key is random and stored wrapped by
the desk's keys; the erasure record says who, when, why and how many orders,
and names the customer by id only.
"""
from __future__ import annotations

from django.db import models


class CustomerDataKey(models.Model):
    """The key a customer's payloads are encrypted under in Temporal.

    `key_id` is what the payloads name (random, no personal data). Erasure
    empties `wrapped_key` and sets `destroyed_at`: from then on nothing,
    anywhere, decrypts those payloads.
    """

    customer = models.OneToOneField("orders.Customer", on_delete=models.PROTECT, related_name="data_key")
    key_id = models.CharField(max_length=64, unique=True)
    # AES-256-GCM of the key under the desk key named by `wrapped_with` (nonce first); null once destroyed.
    wrapped_key = models.BinaryField(null=True, editable=False)
    wrapped_with = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Destroyed means gone: a key is either usable or erased, never both.
            models.CheckConstraint(
                condition=models.Q(destroyed_at__isnull=True, wrapped_key__isnull=False)
                | models.Q(destroyed_at__isnull=False, wrapped_key__isnull=True),
                name="customer_data_key_usable_or_destroyed",
            ),
        ]

    def __str__(self) -> str:
        return f"data key {self.key_id}" + (" (destroyed)" if self.destroyed_at else "")


class CustomerErasure(models.Model):
    """One erasure: who, when, why, how many orders. Never the data itself."""

    customer = models.OneToOneField("orders.Customer", on_delete=models.PROTECT, related_name="erasure")
    erased_at = models.DateTimeField()
    # A user name, or "retention" for the scheduled erasure.
    erased_by = models.CharField(max_length=150)
    reason = models.CharField(max_length=500, help_text="Why (a request reference, the retention rule); no personal data.")
    orders_count = models.PositiveIntegerField()
    by_retention = models.BooleanField(default=False)

    class Meta:
        ordering = ["-erased_at"]
        permissions = [("erase_customer", "Can erase a customer's personal data")]

    def __str__(self) -> str:
        return f"customer {self.customer_id} erased on {self.erased_at:%Y-%m-%d}"
