"""Retention: erase the customers whose last order closed longer ago than ORDER_DESK_PERSONAL_DATA_RETENTION_DAYS.

Run by `reconcile_orders` (scheduled), a bounded batch per run, oldest first:
a backlog drains over several runs instead of one long transaction. Each
customer is erased by the same service as a person's erasure, in its own
transaction, and recorded as erased by "retention". A customer with an order
still running is not due (and the service would refuse anyway).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from orders.privacy.selectors import customers_due_for_retention
from orders.privacy.services import ErasureRefused, customer_erase


@dataclass
class RetentionRun:
    days: int
    erased: list[int] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    # Still due after this run's batch: the next runs take them.
    still_due: int = 0

    @property
    def summary(self) -> str:
        if not self.days:
            return "Personal data retention: off (ORDER_DESK_PERSONAL_DATA_RETENTION_DAYS=0)."
        return (f"Personal data retention ({self.days} days): erased {len(self.erased)} customer(s); "
                f"{len(self.refused)} refused; {self.still_due} still due for the next runs.")


def retention_erase(*, now: datetime | None = None, limit: int | None = None) -> RetentionRun:
    days = settings.ORDER_DESK_PERSONAL_DATA_RETENTION_DAYS
    run = RetentionRun(days=max(days, 0))
    if days <= 0:
        return run
    now = now or timezone.now()
    limit = settings.ORDER_DESK_PERSONAL_DATA_RETENTION_BATCH if limit is None else limit
    due = customers_due_for_retention(before=now - timedelta(days=days))
    for customer_id in list(due[:limit]):
        try:
            customer_erase(customer_id=customer_id, actor=None, reason=f"Retention: last order closed more than {days} days ago")
        except ErasureRefused as err:  # an order submitted since the selection
            run.refused.append((customer_id, err.message))
            continue
        run.erased.append(customer_id)
    run.still_due = due.count()
    return run
