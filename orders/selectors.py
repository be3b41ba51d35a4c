"""Reads for the order pages.

Lists read the DB mirror only. The detail page asks the workflow for its live
snapshot while the order is in flight and falls back to the mirror, saying
so, when no worker answers. Finished orders are read from the mirror: it holds
their final state, and a query on a closed workflow would make a worker replay
its whole history.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q, QuerySet

from approvals.models import ApprovalDecision
from approvals.selectors import mirror_progress
from orders.models import Order, OrderEvent
from temporal_bridge import client as temporal
from temporal_bridge import messages as m
from temporal_bridge import states

PAGE_SIZE = 25


@dataclass
class OrderPage:
    orders: list[Order]
    newer_cursor: int | None
    older_cursor: int | None


def order_list(*, status: str = "", search: str = "", before: int | None = None, after: int | None = None, page_size: int = PAGE_SIZE) -> OrderPage:
    """One page of orders, newest first, by keyset on the id.

    Keyset pages cost the same on page 1 and page 4,000 and need no COUNT over
    the table, which is what keeps the list fast at 100k+ orders.
    """
    queryset: QuerySet[Order] = Order.objects.select_related("customer")
    if status:
        queryset = queryset.filter(status=status)
    if search:
        queryset = queryset.filter(Q(number__iexact=search) | Q(number__icontains=search) | Q(customer__name__icontains=search))

    if after is not None:
        rows = list(queryset.filter(id__gt=after).order_by("id")[: page_size + 1])
        has_newer = len(rows) > page_size
        rows = list(reversed(rows[:page_size]))
        has_older = bool(rows) and queryset.filter(id__lt=rows[-1].id).exists()
    else:
        if before is not None:
            queryset_page = queryset.filter(id__lt=before)
        else:
            queryset_page = queryset
        rows = list(queryset_page.order_by("-id")[: page_size + 1])
        has_older = len(rows) > page_size
        rows = rows[:page_size]
        has_newer = before is not None and bool(rows) and queryset.filter(id__gt=rows[0].id).exists()
    return OrderPage(
        orders=rows,
        newer_cursor=rows[0].id if rows and has_newer else None,
        older_cursor=rows[-1].id if rows and has_older else None,
    )


def order_detail(pk: int) -> Order:
    return Order.objects.select_related("customer", "created_by").prefetch_related("lines__product").get(pk=pk)


@dataclass
class LiveState:
    snapshot: m.OrderSnapshot
    source: str  # "workflow" or "mirror"
    notice: str = ""

    @property
    def is_terminal(self) -> bool:
        return self.snapshot.state in states.TERMINAL

    @property
    def state_label(self) -> str:
        return states.LABELS.get(self.snapshot.state, self.snapshot.state)


def order_for_panel(pk: int) -> Order:
    """The order as the live panel needs it: one query, no lines (the detail page shows those)."""
    return Order.objects.get(pk=pk)


def _snapshot_cache_key(order_id: int) -> str:
    return f"orders:live-snapshot:{order_id}"


def order_live_state(order: Order, *, fresh: bool = False) -> LiveState:
    """The order's live state: the workflow's snapshot, or the mirror when that is final or unavailable.

    Snapshots are cached per order for ORDER_SNAPSHOT_CACHE_SECONDS, shared by
    every request of the process: many open pages of one order cost one query
    per period, not one each. `fresh` skips the cache (after an action).
    """
    if order.is_terminal or order.workflow_started_at is None:
        notice = "" if order.is_terminal else "The workflow for this order has not started yet; it will be started shortly."
        return LiveState(mirror_snapshot(order), "mirror", notice)
    ttl = settings.ORDER_SNAPSHOT_CACHE_SECONDS
    key = _snapshot_cache_key(order.pk)
    if ttl > 0 and not fresh:
        cached = cache.get(key)
        if cached is not None:
            return LiveState(cached, "workflow")
    try:
        snapshot = temporal.query_order(order.pk)
    except (temporal.TemporalUnavailable, temporal.WorkflowNotFound) as err:
        return LiveState(
            mirror_snapshot(order), "mirror",
            f"Live state unavailable ({_short(err)}): showing the last recorded state from the database. "
            "Approvals and processing resume when a worker is running.",
        )
    if ttl > 0:
        cache.set(key, snapshot, ttl)
    return LiveState(snapshot, "workflow")


def order_live_state_forget(order_id: int) -> None:
    """Drop the cached snapshot, so the next read asks the workflow (after an action on it)."""
    cache.delete(_snapshot_cache_key(order_id))


def mirror_snapshot(order: Order) -> m.OrderSnapshot:
    """The snapshot as the database mirror records it, shaped like the query's."""
    events = OrderEvent.objects.filter(order=order).order_by("created_at", "id")
    decisions = ApprovalDecision.objects.filter(order=order).order_by("created_at", "id")
    return m.OrderSnapshot(
        order_id=order.pk,
        number=order.number or "",
        state=order.status,
        step=states.LABELS.get(order.status, order.status),
        progress=order.progress,
        requires_approval=order.requires_approval,
        approval_deadline=order.approval_deadline.isoformat() if order.approval_deadline else None,
        priority=order.priority,
        shipping_address=order.shipping_address,
        note=order.note,
        tracking_number=order.tracking_number,
        failure_reason=order.failure_reason,
        decisions=[m.DecisionRecord(d.approver_username, d.decision, d.comment, d.created_at.isoformat(), d.request_id, senior=d.senior)
                   for d in decisions],
        timeline=[m.TimelineEntry(e.created_at.isoformat(), e.kind, e.message, e.actor) for e in events],
        allowed_actions=mirror_allowed_actions(order.status),
        approval=mirror_progress(order),
    )


def mirror_allowed_actions(status: str) -> list[str]:
    if status == states.PENDING_APPROVAL:
        return [m.ACTION_APPROVE, m.ACTION_REJECT, m.ACTION_CANCEL, m.ACTION_UPDATE]
    if status in states.CANCELLABLE:
        return [m.ACTION_CANCEL, m.ACTION_UPDATE]
    return []


def _short(err: Exception) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) < 120 else text[:117] + "…"
