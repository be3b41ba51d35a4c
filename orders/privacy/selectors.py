"""Reads about erasures: which workflows belong to erased customers."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Q, QuerySet

from orders.models import Customer, Order
from orders.privacy.models import CustomerDataKey, CustomerErasure
from temporal_bridge.order import states

# An order's workflow and its shipments' (one, or one per warehouse of a split
# order: `order-N-shipment-EAST`) carry that order's customer's data.
ORDER_WORKFLOW = re.compile(r"^order-(\d{1,18})(?:-shipment(?:-[A-Z0-9-]{2,12})?)?$")


def erased_workflow_ids(workflow_ids: Iterable[str]) -> set[str]:
    """Those of `workflow_ids` that are an order (or its shipment) of an erased customer."""
    by_order: dict[int, list[str]] = {}
    for workflow_id in workflow_ids:
        match = ORDER_WORKFLOW.match(workflow_id)
        if match:
            by_order.setdefault(int(match.group(1)), []).append(workflow_id)
    erased = Order.objects.filter(pk__in=by_order, customer__erasure__isnull=False).values_list("pk", flat=True)
    return {workflow_id for pk in erased for workflow_id in by_order[pk]}


def customer_keys_held(key_ids: Iterable[str]) -> set[str]:
    """Those of `key_ids` this desk's database holds, live or destroyed."""
    return set(CustomerDataKey.objects.filter(key_id__in=list(key_ids)).values_list("key_id", flat=True))


def customers_due_for_retention(*, before: datetime) -> QuerySet:
    """Ids of customers not erased, with orders, all closed, the last one closed before `before`; oldest first.

    An order's last write (`updated_at`) stands for when it closed: a closed
    order is written again only by the mirror's repairs.
    """
    return (Customer.objects.filter(erasure__isnull=True)
            .annotate(last_closed=Max("orders__updated_at"),
                      running=Count("orders", filter=~Q(orders__status__in=states.TERMINAL)))
            .filter(last_closed__lt=before, running=0)
            .order_by("last_closed", "pk").values_list("pk", flat=True))


@dataclass(frozen=True)
class DataProtectionSummary:
    retention_days: int
    due_now: int
    erased_last_30_days: int
    by_retention_last_30_days: int
    last_erasure: datetime | None


def data_protection_summary(*, now: datetime) -> DataProtectionSummary:
    """The operations page's data protection card: a few counts, no names."""
    days = settings.ORDER_DESK_PERSONAL_DATA_RETENTION_DAYS
    recent = CustomerErasure.objects.filter(erased_at__gte=now - timedelta(days=30))
    counts = recent.aggregate(all=Count("pk"), by_retention=Count("pk", filter=Q(by_retention=True)))
    last = CustomerErasure.objects.order_by("-erased_at").values_list("erased_at", flat=True).first()
    due = customers_due_for_retention(before=now - timedelta(days=days)).count() if days > 0 else 0
    return DataProtectionSummary(days, due, counts["all"], counts["by_retention"], last)
