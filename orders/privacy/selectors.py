"""Reads about erasures: which workflows belong to erased customers."""
from __future__ import annotations

import re
from collections.abc import Iterable

from orders.models import Order

# An order's workflow and its shipment's carry that order's customer's data.
ORDER_WORKFLOW = re.compile(r"^order-(\d{1,18})(?:-shipment)?$")


def erased_workflow_ids(workflow_ids: Iterable[str]) -> set[str]:
    """Those of `workflow_ids` that are an order (or its shipment) of an erased customer."""
    by_order: dict[int, list[str]] = {}
    for workflow_id in workflow_ids:
        match = ORDER_WORKFLOW.match(workflow_id)
        if match:
            by_order.setdefault(int(match.group(1)), []).append(workflow_id)
    erased = Order.objects.filter(pk__in=by_order, customer__erasure__isnull=False).values_list("pk", flat=True)
    return {workflow_id for pk in erased for workflow_id in by_order[pk]}
