"""API keys and the idempotency records of the intake API.

Imported by orders.models so Django registers them with the orders app.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import models

KEY_PREFIX = "od"


def hash_secret(secret: str) -> str:
    # Keys are 256 random bits, not passwords: a fast hash is enough to make a
    # leaked table useless, and it keeps every request cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKey(models.Model):
    """A storefront's credential. Only the hash of its secret is stored.

    The key reads `od_<prefix>_<secret>`; the prefix finds the row, the secret
    is compared by hash. Requests act as `user`, with that user's permissions.
    """

    name = models.CharField(max_length=100, help_text="Who uses this key, e.g. the storefront's name.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    hashed_secret = models.CharField(max_length=64, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_keys",
        verbose_name="acts as", help_text="Requests with this key act as this user, with its permissions (e.g. a Clerks member).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_keys_created", null=True, editable=False,
    )
    active = models.BooleanField(default=True, help_text="Untick to revoke the key at once.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({KEY_PREFIX}_{self.prefix}_…)"

    @classmethod
    def generate(cls) -> tuple[str, str, str]:
        """A new (prefix, secret, full key)."""
        prefix = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        return prefix, secret, f"{KEY_PREFIX}_{prefix}_{secret}"

    def set_secret(self, secret: str) -> None:
        self.hashed_secret = hash_secret(secret)

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.hashed_secret, hash_secret(secret))


class IdempotencyRecord(models.Model):
    """An `Idempotency-Key` a storefront sent with a create, and the order it made."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=255)
    # SHA-256 of the canonical request body: the same key with another body is refused.
    request_hash = models.CharField(max_length=64)
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="idempotency_records")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_once_per_api_key")]

    def __str__(self) -> str:
        return f"{self.key} → {self.order}"
