"""Reads for the operations page: orders by state, approvals by age, the last
24 hours, and the orders that need an operator.

The aggregates read the database only (the mirror), a handful of queries
whatever the number of orders; the worker side comes from
temporal_bridge.client.worker_status. Orders needing an operator cost at most
ATTENTION_DESCRIBE_LIMIT describe calls per page view (see there).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.db.models.functions import TruncHour

from orders import selectors
from orders.models import Order
from orders.timeline import mirror
from temporal_bridge.client.bridge import TemporalUnavailable, WorkflowNotFound
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import search_attributes as sa
from temporal_bridge.order import states
from temporal_bridge.order import status as workflow_status
from temporal_bridge.order.calls import workflow_ui_url

# Display order: the way an order travels, then the other endings.
STATE_ORDER = [
    states.PENDING_APPROVAL, states.ON_HOLD, states.APPROVED, states.PROCESSING, states.FULFILLING, states.PARTIALLY_SHIPPED,
    states.FULFILLED, states.IN_TRANSIT, states.DELIVERED, states.RETURNED, states.REJECTED, states.CANCELLED, states.EXPIRED,
    states.FAILED, states.STOPPED,
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


# --- Orders that need an operator ---------------------------------------------------------

# Stopped orders (workflow closed outside the desk) stay listed this long.
STOPPED_RECENTLY = timedelta(days=7)
# Describing a workflow is one cheap server call (no worker), but one per order
# in flight would grow with the business. So one view describes at most this
# many: first the orders whose page, panel or API fell back lately (recorded
# in the cache by orders.selectors, free to read), then the in-flight orders
# whose mirror has been idle longest, those past approval first (they should
# never sit still; an approval may wait days). What a view misses, the next
# one (every 10 s) or `reconcile_orders` (every order in flight) finds.
ATTENTION_DESCRIBE_LIMIT = 10


@dataclass
class AttentionRow:
    order_id: int
    number: str
    state: str
    state_label: str
    problem: str
    since: datetime | None
    workflow_url: str
    stopped: bool


def orders_needing_attention(*, now: datetime, limit: int = ATTENTION_DESCRIBE_LIMIT) -> tuple[list[AttentionRow], str]:
    """In-flight orders whose workflow cannot answer, and orders stopped recently; and a note when the check was cut short."""
    rows, note = _frozen_orders(limit), ""
    if rows and rows[-1] is None:
        rows.pop()
        note = "Temporal did not answer: the orders in flight could not be checked."
    stopped = (
        Order.objects.filter(status=states.STOPPED, updated_at__gte=now - STOPPED_RECENTLY)
        .order_by("-updated_at").only("id", "number", "status", "failure_reason", "updated_at", "workflow_id")[:50]
    )
    rows += [
        AttentionRow(o.pk, o.number or str(o.pk), o.status, o.status_label, f"workflow {o.failure_reason or 'closed outside the desk'}",
                     o.updated_at, workflow_ui_url(o.workflow_id) if o.workflow_id else "", True)
        for o in stopped
    ]
    return rows, note


def _frozen_orders(limit: int) -> list[AttentionRow | None]:
    in_flight = Order.objects.filter(workflow_started_at__isnull=False).exclude(status__in=states.TERMINAL)
    failures = selectors.live_failures()
    recent = list(in_flight.filter(pk__in=list(failures)).order_by("-updated_at")[:limit])
    idle = list(
        in_flight.exclude(pk__in=[o.pk for o in recent])
        .annotate(waits_on_people=Case(When(status=states.PENDING_APPROVAL, then=Value(1)), default=Value(0), output_field=IntegerField()))
        .order_by("waits_on_people", "updated_at")[: max(0, limit - len(recent))]
    )
    rows: list[AttentionRow | None] = []
    for order in recent + idle:
        try:
            status = workflow_status.describe_order(order.pk, timeout=2.0)
        except WorkflowNotFound:
            problem = "its workflow does not exist on the Temporal server"
        except TemporalUnavailable:
            rows.append(None)  # the server is down: the banner says so, the rest would wait in vain
            break
        else:
            if status.stop is not None:
                mirror.order_record_stop(order_id=order.pk, cause=status.stop)  # listed below, with the stopped
                continue
            problem = "" if status.result is not None else selectors.workflow_problem(status)
        if problem:
            seen = failures.get(order.pk)
            rows.append(AttentionRow(
                order.pk, order.number or str(order.pk), order.status, order.status_label, problem,
                datetime.fromtimestamp(seen.at, tz=UTC) if seen else None,
                workflow_ui_url(order.workflow_id) if order.workflow_id else "", False,
            ))
    return rows


@dataclass
class UiFilter:
    label: str
    query: str
    url: str


def temporal_ui_filters(*, now) -> list[UiFilter]:
    """Links to the Temporal UI's workflow list, pre-filtered by the orders' search attributes."""
    filters = [
        ("Stuck in fulfilling for over 1 h", sa.visibility_query(state=states.FULFILLING, entered_before=now - HOUR)),
        ("Awaiting approval for over 24 h", sa.visibility_query(state=states.PENDING_APPROVAL, entered_before=now - 24 * HOUR)),
        # Split orders whose next part has not shipped within a day of the first.
        ("Partially shipped for over 24 h", sa.visibility_query(state=states.PARTIALLY_SHIPPED, entered_before=now - 24 * HOUR)),
        ("On hold (fraud alerts)", sa.visibility_query(state=states.ON_HOLD)),
        ("In transit for over 5 days", sa.visibility_query(state=states.IN_TRANSIT, entered_before=now - 120 * HOUR)),
        ("Escalated, still running", 'WorkflowType="OrderWorkflow" AND Escalated=true AND ExecutionStatus="Running"'),
    ]
    return [UiFilter(label, query, order_calls.workflow_list_ui_url(query)) for label, query in filters]
