"""Service levels on the Django side: the targets from settings, the report
as the mirror tells it, the breach flags the mirror keeps, and the rows the
page shows. The arithmetic is temporal_bridge.service_levels, the same
function the workflow's query calls.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q
from prometheus_client import Counter

from orders.models import Order
from orders.timeline.models import OrderEvent
from temporal_bridge.order import service_levels as sl
from temporal_bridge.order import states
from temporal_bridge.order.service_levels import ServiceLevelReport, ServiceLevelTargets

BREACHES = Counter(
    "orderdesk_service_level_breaches", "Orders whose stage overran its service-level target, by stage (counted once, when mirrored).",
    ["stage"],
)


def targets_from_settings() -> ServiceLevelTargets:
    return ServiceLevelTargets(
        approval_seconds=settings.ORDER_DESK_SLA_APPROVAL_HOURS * 3600,
        processing_seconds=settings.ORDER_DESK_SLA_PROCESSING_HOURS * 3600,
        fulfilment_seconds=settings.ORDER_DESK_SLA_FULFILMENT_HOURS * 3600,
        delivery_seconds=settings.ORDER_DESK_SLA_DELIVERY_HOURS * 3600,
    )


def breach_record(order_id: int, message: str) -> bool:
    """Flag the order for the stage a "service_level" entry names. True when the flag is new for that stage."""
    stage = sl.breached_stage(message)
    if stage is None:
        return False
    current = Order.objects.filter(pk=order_id).values_list("sla_breached_stages", flat=True).first()
    if current is None:
        return False
    stages = set(filter(None, current.split(",")))
    if stage in stages:
        return False
    stages.add(stage)
    joined = ",".join(s for s in sl.STAGES if s in stages)
    Order.objects.filter(pk=order_id).update(sla_breached=True, sla_breached_stages=joined)
    BREACHES.labels(stage).inc()
    return True


def mirror_report(order: Order, events: Iterable[OrderEvent], *, now: datetime) -> ServiceLevelReport | None:
    """The report from the states the order's timeline entries carried (oldest
    first). None for orders mirrored before entries carried their state."""
    transitions = [(e.status, e.created_at.isoformat()) for e in events if e.status]
    if not transitions:
        return None
    # The same targets and delivery tracking as the workflow's input (settings may have changed since; close enough for a fallback).
    targets, track_delivery = targets_from_settings(), order.status == states.IN_TRANSIT
    if order.status not in states.TERMINAL and not track_delivery:
        track_delivery = settings.ORDER_DESK_TRACK_DELIVERY  # what orders.services.workflow_input_for gives a run
    return sl.report(transitions, now, targets, track_delivery=track_delivery)


@dataclass
class StageRow:
    stage: str
    label: str
    spent: str
    target: str
    breached: bool


def stage_rows(report: ServiceLevelReport | None, targets: ServiceLevelTargets | None = None) -> list[StageRow]:
    """The "Service levels" panel: each stage entered, time spent against target, breaches flagged."""
    if report is None:
        return []
    targets = targets or targets_from_settings()
    rows = []
    for stage in sl.STAGES:
        if stage not in report.seconds_in_stage:
            continue
        target = sl.target_seconds(targets, stage)
        rows.append(StageRow(stage, sl.STAGE_LABELS[stage], sl.duration_text(report.seconds_in_stage[stage]),
                             sl.duration_text(target) if target else "none", stage in report.breached))
    return rows


@dataclass
class BreachCount:
    stage: str
    label: str
    open: int
    last_day: int


def breaches_by_stage(*, now: datetime) -> list[BreachCount]:
    """Breached orders by stage: those still open, and the breaches of the last 24 hours (two queries)."""
    open_orders = Order.objects.filter(sla_breached=True).exclude(status__in=states.TERMINAL).order_by()
    open_counts = open_orders.aggregate(**{s: Count("id", filter=Q(sla_breached_stages__contains=s)) for s in sl.STAGES})
    recent = OrderEvent.objects.filter(kind=OrderEvent.Kind.SERVICE_LEVEL, created_at__gte=now - timedelta(hours=24)).order_by()
    recent_counts = recent.aggregate(**{
        s: Count("order_id", distinct=True, filter=Q(message__startswith=f"{sl.BREACH_PREFIX}{s} "))
        for s in sl.STAGES
    })
    return [BreachCount(s, sl.STAGE_LABELS[s], open_counts[s], recent_counts[s]) for s in sl.STAGES]

