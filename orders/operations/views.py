"""/ops/: the operations page for staff — workers, backlog, orders by state, approvals by age, the last 24 hours."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from orders.delivery import services as parcels
from orders.exceptions import OrderError
from orders.holds import services as holds
from orders.holds.models import HoldEvent
from orders.inventory import selectors as inventory
from orders.operations import selectors as ops
from orders.operations.charts import STATE_COLOURS, stacked_hours_svg
from orders.privacy.selectors import data_protection_summary
from orders.timeline import service_levels as sla
from temporal_bridge.client.worker_status import cached_worker_check

REFRESH_EVERY = "10s"
# Open operations tasks shown on the page (oldest first); the admin lists all.
TASKS_SHOWN = 50


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
    open_tasks = parcels.open_operations_tasks()
    context = {
        "operations_tasks": list(open_tasks[:TASKS_SHOWN]),
        "operations_tasks_open": open_tasks.count(),
        "check": check,
        "temporal_status": check.status,
        # Judged by the rule the banner and /readyz use: silent for two intervals is missing.
        "worker_states": check.status.worker_states(min_heartbeat_interval=settings.WORKER_HEARTBEAT_SECONDS) if check.status else [],
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
        "breaches": sla.breaches_by_stage(now=now),
        "pause": holds.fulfilment_pause_state(),
        "breakers": holds.breaker.open_breakers(),
        "hold_history": HoldEvent.objects.all()[:HOLD_HISTORY],
        "can_pause": request.user.has_perm(PAUSE_PERMISSION),
        "data_protection": data_protection_summary(now=now),
        "backorders": inventory.backorders_by_warehouse(now=now),
    }
    return render(request, "orders/ops.html", context)


HOLD_HISTORY = 10
PAUSE_PERMISSION = "orders.pause_fulfilment"
REASON_MAX = 300


def _may_pause(request: HttpRequest) -> None:
    if not (request.user.is_staff and request.user.has_perm(PAUSE_PERMISSION)):
        raise PermissionDenied("Pausing and resuming fulfilment needs the permission to pause fulfilment.")


@require_POST
def fulfilment_pause(request: HttpRequest) -> HttpResponse:
    _may_pause(request)
    reason = request.POST.get("reason", "").strip()
    if len(reason) > REASON_MAX:
        messages.error(request, f"The reason is at most {REASON_MAX} characters.")
        return redirect("ops")
    try:
        paused = holds.fulfilment_pause(by=request.user.get_username(), reason=reason)
    except OrderError as err:
        messages.error(request, err.message)
    else:
        if paused:
            messages.success(request, "Fulfilment is paused: orders reaching fulfilment wait until it is resumed.")
        else:
            messages.info(request, "Fulfilment was already paused; nothing changed.")
    return redirect("ops")


@require_POST
def fulfilment_resume(request: HttpRequest) -> HttpResponse:
    _may_pause(request)
    result = holds.fulfilment_resume(by=request.user.get_username())
    if not result.resumed:
        messages.info(request, "Fulfilment was not paused; nothing changed.")
    else:
        missed = f"; {result.missed} could not be told now and continue at their next check" if result.missed else ""
        told = f"{result.signalled} waiting order{'s' if result.signalled != 1 else ''} told"
        messages.success(request, f"Fulfilment resumed: {told}{missed}.")
    return redirect("ops")


@require_POST
def operations_task_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied("Operations tasks are resolved by staff.")
    try:
        task = parcels.operations_task_resolve(task_id=pk, user=request.user)
    except OrderError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, f"Resolved: {task.text}")
    return redirect("ops")
