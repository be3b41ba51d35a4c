"""Delegation (out of office): whose approvals a substitute holds, and when.

Registered with the approvals app through approvals/models.py.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class DelegationQuerySet(models.QuerySet):
    def standing(self, at: datetime | None = None) -> DelegationQuerySet:
        """Delegations in force at `at` (now): begun, not over, not ended early."""
        at = at or timezone.now()
        return self.filter(starts_at__lte=at, ends_at__gt=at, ended_at__isnull=True)

    def overlapping(self, starts_at: datetime, ends_at: datetime) -> DelegationQuerySet:
        """Not ended early, and meeting the range [starts_at, ends_at)."""
        return self.filter(ended_at__isnull=True, starts_at__lt=ends_at, ends_at__gt=starts_at)


class Delegation(models.Model):
    """A manager's out of office: `substitute` holds `delegator`'s approvals
    from `starts_at` until `ends_at` (or until ended early).

    While it stands, the substitute's inbox shows the delegator's orders, their
    decisions count "on behalf of" the delegator (the workflow asks the
    database whether the delegation stands at that moment), and reminders and
    escalations meant for the delegator go to the substitute. The rules of an
    approval still hold: both people count once, neither decides on their own
    order, and only the substitute's own seniority fills a senior slot.
    """

    delegator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="delegations_given")
    substitute = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="delegations_taken")
    starts_at = models.DateTimeField()
    # Exclusive: the first moment the delegator is back.
    ends_at = models.DateTimeField()
    # Ended before `ends_at` (the delegator came back early, or called it off).
    ended_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DelegationQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_at", "-id"]
        indexes = [
            models.Index(fields=["substitute", "ends_at"], name="delegation_substitute_idx"),
            models.Index(fields=["delegator", "ends_at"], name="delegation_delegator_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(delegator=models.F("substitute")), name="delegation_not_to_oneself"),
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="delegation_range_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.delegator} → {self.substitute} ({self.first_day:%Y-%m-%d} to {self.last_day:%Y-%m-%d})"

    @property
    def first_day(self) -> date:
        return timezone.localtime(self.starts_at).date()

    @property
    def last_day(self) -> date:
        """The last day covered (`ends_at` is the first moment after it)."""
        return (timezone.localtime(self.ends_at) - timedelta(microseconds=1)).date()

    @property
    def status(self) -> str:
        now = timezone.now()
        if self.ended_at is not None:
            return "ended early" if self.ended_at > self.starts_at else "called off"
        if self.ends_at <= now:
            return "over"
        return "standing" if self.starts_at <= now else "upcoming"

    @property
    def can_end(self) -> bool:
        return self.status in ("standing", "upcoming")
