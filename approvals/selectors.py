"""Reads for the approvals screens (from the DB mirror, never Temporal per row)."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, QuerySet

from orders.models import Order
from temporal_bridge import states


def awaiting_decision(user: AbstractBaseUser) -> QuerySet[Order]:
    """Orders waiting for a decision `user` may take: not their own, soonest due first."""
    return (
        Order.objects.filter(status=states.PENDING_APPROVAL, requires_approval=True)
        .exclude(created_by=user)
        .select_related("customer", "created_by")
        # An order whose workflow has not recorded its deadline yet is not the
        # most urgent; say so explicitly, as SQLite and PostgreSQL place NULLs
        # at opposite ends by default.
        .order_by(F("approval_deadline").asc(nulls_last=True), "id")
    )


def awaiting_decision_count(user: AbstractBaseUser) -> int:
    return awaiting_decision(user).count()
