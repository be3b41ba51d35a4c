"""reconcile_orders against a real Temporal server and worker: it repairs a
mirror that drifted from a finished workflow and names stuck orders' reasons."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command

from orders import services
from orders.models import Order
from orders.operations.reconcile import reconcile
from orders.timeline.models import OrderEvent
from temporal_bridge.client.bridge import bridge
from temporal_bridge.order import states
from tests.integration.test_lifecycle import finished, submit, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_reconcile_repairs_a_mirror_that_lost_its_last_writes(stack, clerk, customer, widget):
    order = submit(clerk, customer, widget, 1)
    final = finished(order.pk)
    # A database restored from a backup taken just before the end: the last
    # entries and the terminal state are gone from the mirror.
    keys = list(OrderEvent.objects.filter(order=order).order_by("-idempotency_key").values_list("idempotency_key", flat=True)[:3])
    OrderEvent.objects.filter(order=order, idempotency_key__in=keys).delete()
    Order.objects.filter(pk=order.pk).update(status=states.FULFILLING, tracking_number="", progress=40)

    report = reconcile(min_age=timedelta(0))

    assert report.repaired == [order.number]
    order.refresh_from_db()
    assert (order.status, order.tracking_number, order.progress) == (states.FULFILLED, final.tracking_number, 100)
    assert list(OrderEvent.objects.filter(order=order).order_by("idempotency_key").values_list("message", flat=True)) == [
        e.message for e in final.timeline
    ]
    assert reconcile(min_age=timedelta(0)).repaired == []  # idempotent


def test_reconcile_names_an_activity_that_keeps_failing(stack, settings, clerk, customer, widget):
    # The mail server is down: the customer notification is retried, forever.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 1
    order = submit(clerk, customer, widget, 1)

    def stuck_reason():
        report = reconcile(min_age=timedelta(0))
        return next((why for number, why in report.stuck if number == order.number), None)

    why = wait_for(stuck_reason, timeout=30, every=1, what="the order to be reported stuck")
    assert "notify_customer failing" in why and "attempt" in why

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("reconcile_orders", min_age=0, stdout=out, stderr=err)
    assert exit_info.value.code == 1
    assert f"STUCK     {order.number}: activity notify_customer failing" in out.getvalue()

    # Mail is back: the next retry sends, the order finishes, nothing is stuck.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert finished(order.pk).state == states.FULFILLED


def test_reconcile_says_when_no_worker_is_polling(temporal_address, settings, clerk, customer, widget):
    settings.TEMPORAL_ADDRESS = temporal_address
    settings.TEMPORAL_TASK_QUEUE = "nobody-polls-this-queue"
    bridge.reset()
    try:
        order = services.order_submit(customer=customer, lines=[services.LineRequest(widget, 1)], created_by=clerk,
                                      shipping_address="1 Main St")
        report = reconcile(min_age=timedelta(0))
        assert report.no_worker
        assert (order.number, "no worker is polling the task queue") in report.stuck
    finally:
        bridge.reset()
