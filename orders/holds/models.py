"""Holds on the whole desk: a fulfilment pause set by staff, and a circuit
breaker per provider. Both live in the database, so a hold survives worker
and web restarts; the workflows read them through the read_hold activity.
"""
from __future__ import annotations

from django.db import models
from django.utils import timezone


class FulfilmentPause(models.Model):
    """The one fulfilment switch (row pk=1): while paused, orders reaching fulfilment wait."""

    paused = models.BooleanField(default=False)
    reason = models.CharField(max_length=300, blank=True)
    by = models.CharField(max_length=150, blank=True)
    since = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("pause_fulfilment", "Can pause and resume fulfilment")]

    def __str__(self) -> str:
        return f"Fulfilment paused by {self.by}: {self.reason}" if self.paused else "Fulfilment running"


class CircuitBreaker(models.Model):
    """A provider's circuit breaker: closed (calls go through), open (orders wait
    before calling it), half-open (after the cool-down, one trial call decides)."""

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
    STATES = [(CLOSED, "Closed"), (OPEN, "Open"), (HALF_OPEN, "Half-open")]

    provider = models.CharField(max_length=20, unique=True)
    state = models.CharField(max_length=10, choices=STATES, default=CLOSED)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    # When the half-open trial call was let through: one at a time.
    trial_started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.provider}: {self.get_state_display()}"


class HoldEvent(models.Model):
    """The history of holds: pauses and resumes by staff, breakers opening and closing."""

    class Kind(models.TextChoices):
        PAUSED = "paused", "Fulfilment paused"
        RESUMED = "resumed", "Fulfilment resumed"
        BREAKER_OPENED = "breaker_opened", "Circuit breaker opened"
        BREAKER_CLOSED = "breaker_closed", "Circuit breaker closed"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    subject = models.CharField(max_length=20)  # "fulfilment" or the provider
    by = models.CharField(max_length=150, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.subject}) by {self.by or 'the desk'}"
