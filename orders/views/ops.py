"""/ops/: the operations page for staff — workers, backlog, orders by state, approvals by age, the last 24 hours."""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from orders import ops
from orders.charts import STATE_COLOURS, stacked_hours_svg
from temporal_bridge.worker_status import cached_worker_check

REFRESH_EVERY = "10s"


@require_GET
@never_cache
def operations(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied("The operations page is for staff.")
    now = timezone.now()
    # Ask Temporal now, not the cached answer: this page is where an operator
    # checks, and its answer refreshes the banner on every other page.
    check = cached_worker_check(refresh=True)
    hours = ops.orders_by_hour(now=now)
    attention, attention_note = ops.orders_needing_attention(now=now)
    by_state = ops.orders_by_state()
    context = {
        "check": check,
        "temporal_status": check.status,
        "attention": attention,
        "attention_note": attention_note,
        "by_state": by_state,
        "orders_total": sum(row.count for row in by_state),
        "approvals_by_age": ops.pending_approvals_by_age(now=now),
        "chart": stacked_hours_svg(hours, ops.STATE_ORDER),
        "hours": hours,
        "state_colours": STATE_COLOURS,
        "now": now,
        "refresh_every": REFRESH_EVERY,
        "task_queue": settings.TEMPORAL_TASK_QUEUE,
        "ui_filters": ops.temporal_ui_filters(now=now),
    }
    return render(request, "orders/ops.html", context)
