"""The desk's business metrics, counted when the mirror records a transition:
orders finished by state, and the time each took to be approved. The worker
serves them (temporal_bridge.runtime.metrics) beside the SDK's own.
"""
from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from prometheus_client import Counter, Histogram

from orders.models import Order
from temporal_bridge.order import states
from temporal_bridge.order.records import MirrorInput

ORDERS_FINISHED = Counter(
    "orderdesk_orders_finished", "Orders that reached a terminal state, by that state (counted once, when mirrored).", ["state"],
)
TIME_TO_APPROVAL = Histogram(
    "orderdesk_time_to_approval_seconds", "Time from an order's submission to its approval; path=auto below the threshold.",
    ["path"], buckets=(1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 48 * 3600),
)

def order_transition_recorded(entry: MirrorInput, *, order_row: tuple[datetime, bool] | None = None) -> None:
    """Count what a newly mirrored transition means (a retried write is not counted again).

    `order_row`: the order's (created_at, requires_approval) if the write read them back already."""
    if entry.status in states.TERMINAL:
        ORDERS_FINISHED.labels(entry.status).inc()
    elif entry.status == states.APPROVED:
        row = order_row or Order.objects.filter(pk=entry.order_id).values_list("created_at", "requires_approval").first()
        if row is not None:
            created_at, requires_approval = row
            TIME_TO_APPROVAL.labels("manager" if requires_approval else "auto").observe((timezone.now() - created_at).total_seconds())
