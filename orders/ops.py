"""Reads for the operations page: orders by state, approvals by age, the last 24 hours.

Database only (the mirror), a handful of aggregate queries whatever the number
of orders; the worker side comes from temporal_bridge.worker_status.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncHour

from orders.models import Order
from temporal_bridge import states

# Display order: the way an order travels, then the other endings.
STATE_ORDER = [
    states.PENDING_APPROVAL, states.APPROVED, states.PROCESSING, states.FULFILLING, states.FULFILLED,
    states.REJECTED, states.CANCELLED, states.EXPIRED, states.FAILED, states.STOPPED,
]
HOUR = timedelta(hours=1)
# Pending approvals by time since submission; the default deadline is 48 hours.
AGE_BUCKETS = [
    ("under 1 hour", timedelta(0), HOUR),
    ("1–4 hours", HOUR, 4 * HOUR),
    ("4–24 hours", 4 * HOUR, 24 * HOUR),
    ("1–2 days", 24 * HOUR, 48 * HOUR),
    ("over 2 days", 48 * HOUR, None),
]


@dataclass
class StateCount:
    state: str
    label: str
    count: int


def orders_by_state() -> list[StateCount]:
    counts = dict(Order.objects.order_by().values_list("status").annotate(n=Count("id")))
    return [StateCount(state, states.LABELS[state], counts.get(state, 0)) for state in STATE_ORDER]


@dataclass
class AgeBucket:
    label: str
    count: int


def pending_approvals_by_age(*, now: datetime) -> list[AgeBucket]:
    """Orders waiting for a manager, by how long ago they were submitted (one query)."""
    aggregates = {}
    for index, (_, younger, older) in enumerate(AGE_BUCKETS):
        condition = Q(created_at__lte=now - younger)
        if older is not None:
            condition &= Q(created_at__gt=now - older)
        aggregates[f"b{index}"] = Count("id", filter=condition)
    row = Order.objects.filter(status=states.PENDING_APPROVAL, requires_approval=True).aggregate(**aggregates)
    return [AgeBucket(label, row[f"b{index}"]) for index, (label, _, _) in enumerate(AGE_BUCKETS)]


@dataclass
class HourCounts:
    start: datetime
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def orders_by_hour(*, now: datetime, hours: int = 24) -> list[HourCounts]:
    """Orders submitted in each of the last `hours` hours, split by their state now."""
    first = now.replace(minute=0, second=0, microsecond=0) - (hours - 1) * HOUR
    buckets = {first + i * HOUR: HourCounts(first + i * HOUR) for i in range(hours)}
    rows = (
        Order.objects.filter(created_at__gte=first).order_by()
        .annotate(hour=TruncHour("created_at")).values_list("hour", "status").annotate(n=Count("id"))
    )
    for hour, status, n in rows:
        bucket = buckets.get(hour)
        if bucket is not None:
            bucket.counts[status] = bucket.counts.get(status, 0) + n
    return list(buckets.values())
