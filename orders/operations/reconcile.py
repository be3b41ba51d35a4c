"""Reconciliation: the database mirror converges on the workflows' truth.

Used by `manage.py reconcile_orders`, safe to run on a schedule: each step is
idempotent. Three jobs:
1. start the workflow of every order that has none (the web process died
   between the commit and the start, or Temporal was down);
2. repair mirror drift: an order whose workflow has finished but whose mirror
   says otherwise (e.g. the last mirror write was lost with a database) is
   rewritten from the workflow's final snapshot;
3. record stops: an order in flight whose workflow was closed from outside
   (terminated or cancelled by an operator, timed out, failed) becomes
   `stopped`, with the cause, through the same service the pages use;
4. list stuck orders with the reason: a workflow that is missing, a workflow
   task or an activity failing again and again, no worker polling;
5. from the other side, through a visibility query: running order workflows
   without a mirror (no order row: an operator decides), or whose order never
   recorded its start (recorded now).
6. deliver provider webhook events still waiting (Temporal was down, or the
   workflow not yet running), oldest first, a bounded batch per run.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from orders import services
from orders.models import Order
from orders.timeline import mirror
from orders.webhooks import services as webhooks
from temporal_bridge.client import queue_health
from temporal_bridge.client.bridge import TemporalUnavailable, WorkflowNotFound
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import messages as m
from temporal_bridge.order import records, states
from temporal_bridge.order import status as workflow_status

log = logging.getLogger(__name__)

# An activity that failed this often is no blip: somebody should look.
STUCK_AFTER_ATTEMPTS = 3


@dataclass
class ReconcileReport:
    started: list[str] = field(default_factory=list)
    start_failed: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    stopped: list[tuple[str, str]] = field(default_factory=list)
    stuck: list[tuple[str, str]] = field(default_factory=list)
    checked: int = 0
    no_worker: bool = False
    # Running order workflows whose order row does not exist (workflow ids).
    unmirrored: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    webhooks: webhooks.DeliveryRun = field(default_factory=webhooks.DeliveryRun)


def reconcile(*, min_age: timedelta = timedelta(seconds=30), limit: int = 1000) -> ReconcileReport:
    report = ReconcileReport()
    cutoff = timezone.now() - min_age
    _start_missing(report, cutoff, limit)
    _check_in_flight(report, cutoff, limit)
    _find_unmirrored(report, limit)
    # After the starts: an event for an order whose workflow was just started now has a receiver.
    report.webhooks = webhooks.webhook_deliver_pending()
    return report


def _find_unmirrored(report: ReconcileReport, limit: int) -> None:
    """Running order workflows the database does not know as such (a visibility query, not one call per order)."""
    try:
        running = order_calls.running_order_ids(limit=limit)
    except TemporalUnavailable:
        return
    known = dict(Order.objects.filter(pk__in=running).values_list("pk", "workflow_started_at"))
    for order_id in running:
        if order_id not in known:
            report.unmirrored.append(m.workflow_id_for(order_id))
        elif known[order_id] is None:
            # Its start succeeded but was never recorded (the process died in between).
            Order.objects.filter(pk=order_id, workflow_started_at__isnull=True).update(workflow_started_at=timezone.now())
            report.adopted.append(m.workflow_id_for(order_id))


def _start_missing(report: ReconcileReport, cutoff, limit: int) -> None:
    missing = Order.objects.filter(workflow_started_at__isnull=True, created_at__lte=cutoff).order_by("id")[:limit]
    for order_id, number in missing.values_list("id", "number"):
        (report.started if services.order_start_workflow(order_id=order_id) else report.start_failed).append(number)


def _check_in_flight(report: ReconcileReport, cutoff, limit: int) -> None:
    """Orders the mirror shows in flight: compare with their workflows."""
    in_flight = (
        Order.objects.filter(workflow_started_at__isnull=False, workflow_started_at__lte=cutoff)
        .exclude(status__in=states.TERMINAL).order_by("id")[:limit]
    )
    try:
        pollers = queue_health.task_queue_pollers()
        report.no_worker = not (pollers.workflow_pollers and pollers.activity_pollers)
    except TemporalUnavailable:
        report.no_worker = True
    for order in in_flight:
        report.checked += 1
        try:
            status = workflow_status.describe_order(order.pk)
        except WorkflowNotFound:
            report.stuck.append((order.number, "its workflow does not exist on the server (lost with a dev server without persistence?)"))
            continue
        except TemporalUnavailable as err:
            report.stuck.append((order.number, f"Temporal unavailable: {err}"))
            return
        if status.result is not None:
            if order_repair_from_snapshot(order_id=order.pk, snapshot=status.result):
                report.repaired.append(order.number)
        elif status.stop is not None:
            if mirror.order_record_stop(order_id=order.pk, cause=status.stop):
                report.stopped.append((order.number, status.stop.summary))
        elif not status.running:
            report.stuck.append((order.number, f"its workflow ended as {status.status.lower()} without a final state"))
        elif status.workflow_task is not None and status.workflow_task.failing:
            task = status.workflow_task
            report.stuck.append((order.number, f"its workflow task is failing (attempt {task.attempt}): {task.last_failure}"))
        else:
            failing = [p for p in status.pending_activities if p.attempt >= STUCK_AFTER_ATTEMPTS]
            for activity in failing:
                report.stuck.append(
                    (order.number, f"activity {activity.name} failing (attempt {activity.attempt}): {activity.last_failure}"))
            if not failing and report.no_worker:
                report.stuck.append((order.number, "no worker is polling the task queue"))


@transaction.atomic
def order_repair_from_snapshot(*, order_id: int, snapshot: m.OrderSnapshot) -> bool:
    """Make the mirror match a finished workflow's final snapshot. True if anything changed.

    Missing timeline entries are written under the keys the workflow uses, so
    a late mirror activity that still arrives finds them and writes nothing.
    """
    order = Order.objects.select_for_update().get(pk=order_id)
    changed = False
    for index, entry in enumerate(snapshot.timeline):
        # An entry carries the key the mirror holds it under; one without is numbered by position.
        key = entry.key or records.timeline_key(index, entry.kind)
        changed |= mirror.order_event_write(order=order, key=key, kind=entry.kind, message=entry.message, actor=entry.actor)
    fields = {
        "status": snapshot.state, "progress": snapshot.progress,
        "tracking_number": snapshot.tracking_number, "failure_reason": snapshot.failure_reason[:300],
    }
    if any(getattr(order, name) != value for name, value in fields.items()):
        Order.objects.filter(pk=order.pk).update(updated_at=timezone.now(), **fields)
        changed = True
    if changed:
        log.warning("Repaired the mirror of %s from its workflow's final state (%s)", order.number, snapshot.state)
    return changed
