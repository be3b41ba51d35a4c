"""Service levels on the desk: the breach flags the mirror keeps, the report the
page shows (live or from the mirror), the list's filter, the operations page
and the metric."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from orders import services
from orders.models import Order
from orders.timeline import mirror
from orders.timeline.models import OrderEvent
from temporal_bridge.order import records, service_levels, states
from temporal_bridge.order.records import MirrorInput
from temporal_bridge.order.service_levels import ServiceLevelReport, ServiceLevelTargets

pytestmark = pytest.mark.django_db

HOUR = 3600.0
TARGETS = ServiceLevelTargets(approval_seconds=24 * HOUR, processing_seconds=HOUR, fulfilment_seconds=4 * HOUR)


def record(order: Order, index: int, kind: str, message: str, *, at=None, **fields) -> None:
    mirror.order_record_entries([MirrorInput(order.pk, records.timeline_key(index, kind), kind, message,
                                               at=at.isoformat() if at else None, **fields)])


def breach(order: Order, index: int, stage: str) -> None:
    record(order, index, OrderEvent.Kind.SERVICE_LEVEL, service_levels.breach_text(stage, TARGETS))


def breaches_counted(stage: str) -> float:
    return REGISTRY.get_sample_value("orderdesk_service_level_breaches_total", {"stage": stage}) or 0.0


# --- The mirror --------------------------------------------------------------------------------


def test_a_service_level_entry_flags_the_order_with_its_stage_once(make_order):
    order = make_order()
    before = breaches_counted("approval")
    breach(order, 3, "approval")
    breach(order, 3, "approval")  # the activity retried: same key, written once
    order.refresh_from_db()
    assert (order.sla_breached, order.sla_breached_stages) == (True, "approval")
    assert breaches_counted("approval") == before + 1
    breach(order, 9, "fulfilment")
    order.refresh_from_db()
    assert order.sla_breached_stages == "approval,fulfilment"


def test_other_entries_flag_nothing(make_order):
    order = make_order()
    record(order, 1, OrderEvent.Kind.STATUS, "Approved by manager", status=states.APPROVED)
    record(order, 2, OrderEvent.Kind.NOTE, "Service level breached: approval over 24 h")  # a note quoting it is not a breach
    order.refresh_from_db()
    assert (order.sla_breached, order.sla_breached_stages) == (False, "")


def test_the_mirror_reports_time_per_stage_from_the_states_its_entries_carried(make_order):
    order = make_order()
    start = timezone.now() - timedelta(hours=30)
    record(order, 0, OrderEvent.Kind.SUBMITTED, "Order submitted", at=start, status=states.PENDING_APPROVAL)
    record(order, 1, OrderEvent.Kind.STATUS, "Approved by manager", at=start + timedelta(hours=26), status=states.APPROVED)
    record(order, 2, OrderEvent.Kind.STATUS, "Processing", at=start + timedelta(hours=26, minutes=30), status=states.PROCESSING)
    order.refresh_from_db()
    report = mirror.mirror_snapshot(order).service_levels
    assert report.seconds_in_stage["approval"] == 26 * HOUR
    assert report.seconds_in_stage["processing"] == pytest.approx(4 * HOUR, abs=90)  # to the minute, as of now
    assert report.breached == ["approval", "processing"]
    assert report.estimated_completion is not None


def test_orders_mirrored_before_entries_carried_their_state_have_no_report(make_order):
    order = make_order(status=states.FULFILLED)
    record(order, 1, OrderEvent.Kind.STATUS, "Fulfilled")
    assert mirror.mirror_snapshot(order).service_levels is None


def test_a_submitted_order_starts_its_approval_clock_and_its_workflow_gets_the_targets(settings, customer, clerk, widget,
                                                                                        fake_temporal):
    settings.ORDER_DESK_SLA_APPROVAL_HOURS = 2
    settings.ORDER_DESK_SLA_DELIVERY_HOURS = 0
    order = services.order_submit(customer=customer, lines=[services.LineRequest(widget, 1)], created_by=clerk,
                                  shipping_address="1 Main Street")
    targets = services.workflow_input_for(order).service_levels
    assert (targets.approval_seconds, targets.processing_seconds, targets.delivery_seconds) == (2 * HOUR, HOUR, 0)
    report = mirror.mirror_snapshot(order).service_levels
    assert list(report.seconds_in_stage) == ["approval"] and report.breached == []


# --- Pages -------------------------------------------------------------------------------------


def test_the_page_shows_the_live_estimate_and_time_in_each_stage_with_breaches(client, manager, make_order, fake_temporal):
    order = make_order(status=states.PROCESSING)
    eta = (timezone.now() + timedelta(hours=5)).isoformat()
    report = ServiceLevelReport(seconds_in_stage={"approval": 30 * HOUR, "processing": 600}, breached=["approval"],
                                  estimated_completion=eta)
    fake_temporal.snapshot = dataclasses.replace(mirror.mirror_snapshot(order), state=states.PROCESSING, service_levels=report)
    client.force_login(manager)
    html = client.get(f"/orders/{order.pk}/").content.decode()
    assert 'id="estimated-completion"' in html and f'datetime="{eta}"' in html
    assert '<tr data-stage="approval" data-breached><td>Approval</td><td class="num">30 h</td><td class="num">24 h</td>' in html
    assert '<tr data-stage="processing"><td>Processing</td><td class="num">10 min</td><td class="num">1 h</td>' in html


def test_without_a_worker_the_page_shows_the_service_levels_from_the_mirror(client, manager, make_order, fake_temporal):
    order = make_order()
    record(order, 0, OrderEvent.Kind.SUBMITTED, "Order submitted", at=timezone.now() - timedelta(hours=25), status=states.PENDING_APPROVAL)
    breach(order, 1, "approval")
    fake_temporal.unavailable = True
    client.force_login(manager)
    html = client.get(f"/orders/{order.pk}/").content.decode()
    assert 'data-source="mirror"' in html
    assert '<tr data-stage="approval" data-breached>' in html and 'id="estimated-completion"' in html
    assert "Service level breached: approval over 24 h" in html  # the timeline entry


def test_a_finished_order_has_no_estimate(client, manager, make_order, fake_temporal):
    order = make_order(status=states.FULFILLED)
    record(order, 0, OrderEvent.Kind.SUBMITTED, "Order submitted", at=timezone.now() - timedelta(hours=3), status=states.PENDING_APPROVAL)
    record(order, 1, OrderEvent.Kind.STATUS, "Fulfilled", status=states.FULFILLED)
    client.force_login(manager)
    html = client.get(f"/orders/{order.pk}/").content.decode()
    assert 'id="service-levels"' in html and 'id="estimated-completion"' not in html


def test_the_list_filters_breached_orders_and_badges_them(client, manager, make_order):
    calm, late = make_order(), make_order()
    breach(late, 4, "processing")
    client.force_login(manager)
    html = client.get("/orders/").content.decode()
    assert html.count('class="flag flag-breached"') == 1
    filtered = client.get("/orders/?breached=on")
    assert filtered.status_code == 200
    assert [o.pk for o in filtered.context["page"].orders] == [late.pk]
    assert calm.number not in filtered.content.decode()


def test_the_operations_page_counts_breached_orders_by_stage_open_and_in_the_last_day(client, manager, make_order, fake_temporal):
    open_late, also_late, done_late, long_ago = make_order(), make_order(status=states.PROCESSING), make_order(), make_order()
    breach(open_late, 3, "approval")
    breach(also_late, 3, "approval")
    breach(also_late, 5, "processing")
    breach(done_late, 3, "approval")
    record(done_late, 8, OrderEvent.Kind.STATUS, "Fulfilled", status=states.FULFILLED)
    breach(long_ago, 3, "fulfilment")
    OrderEvent.objects.filter(order=long_ago, kind=OrderEvent.Kind.SERVICE_LEVEL).update(created_at=timezone.now() - timedelta(days=2))
    client.force_login(manager)
    response = client.get("/ops/")
    rows = {row.stage: (row.open, row.last_day) for row in response.context["breaches"]}
    assert rows == {"approval": (2, 3), "processing": (1, 1), "fulfilment": (1, 0), "delivery": (0, 0)}
    assert '<tr data-stage="approval"><td>Approval</td><td class="num">2</td><td class="num">3</td></tr>' in response.content.decode()
