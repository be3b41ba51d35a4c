"""Retention: customers whose last order closed longer ago than the setting are erased by reconcile_orders,
a bounded batch per run, oldest first; off by default; reported on the operations page."""
from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from orders.models import Customer, Order
from orders.privacy.models import CustomerErasure
from orders.privacy.retention import retention_erase
from orders.privacy.services import customer_erase
from temporal_bridge.order import states

pytestmark = pytest.mark.django_db


@pytest.fixture
def aged(make_order):
    """Customers by how long ago their last order closed (days); one whose old order still runs."""

    def make(name: str, days: float, status: str = states.FULFILLED) -> Customer:
        customer = Customer.objects.create(name=name, email=f"{name.lower()}@example.com")
        order = make_order(customer=customer, status=status)
        Order.objects.filter(pk=order.pk).update(updated_at=timezone.now() - timedelta(days=days))
        return customer

    return make


def test_off_by_default_nothing_is_erased(aged):
    aged("Ancient", 4000)
    run = retention_erase()
    assert "off" in run.summary and not CustomerErasure.objects.exists()


def test_only_customers_whose_last_order_closed_long_ago_are_erased(settings, aged, make_order):
    settings.ORDER_DESK_PERSONAL_DATA_RETENTION_DAYS = 30
    old, recent, running = aged("Old", 40), aged("Recent", 10), aged("Running", 400, status=states.PROCESSING)
    mixed = aged("Mixed", 400)
    newer = make_order(customer=mixed, status=states.FULFILLED)  # an order closed yesterday keeps them
    Order.objects.filter(pk=newer.pk).update(updated_at=timezone.now() - timedelta(days=1))

    run = retention_erase()

    assert run.erased == [old.pk] and run.still_due == 0
    record = CustomerErasure.objects.get()
    assert (record.customer_id, record.erased_by, record.by_retention) == (old.pk, "retention", True)
    assert "30 days" in record.reason
    for kept in (recent, running, mixed):
        kept.refresh_from_db()
        assert not kept.name.startswith("Erased")


def test_a_run_is_bounded_and_takes_the_oldest_first(settings, aged):
    settings.ORDER_DESK_PERSONAL_DATA_RETENTION_DAYS = 30
    a, b, c = aged("A", 100), aged("B", 300), aged("C", 200)

    first = retention_erase(limit=2)
    assert first.erased == [b.pk, c.pk] and first.still_due == 1
    second = retention_erase(limit=2)
    assert second.erased == [a.pk] and second.still_due == 0
    assert retention_erase(limit=2).erased == []


def test_an_erased_customer_is_not_due_again(settings, aged, protector):
    settings.ORDER_DESK_PERSONAL_DATA_RETENTION_DAYS = 30
    old = aged("Old", 40)
    customer_erase(customer_id=old.pk, actor=protector, reason="Request DPR-1")
    assert retention_erase().erased == [] and CustomerErasure.objects.count() == 1


def test_reconcile_orders_applies_retention_and_says_what_it_did(settings, aged, fake_temporal):
    settings.ORDER_DESK_PERSONAL_DATA_RETENTION_DAYS = 30
    aged("Old", 40)
    out = StringIO()
    try:
        call_command("reconcile_orders", stdout=out, stderr=StringIO())
    except SystemExit:
        pass  # exit 1 flags stuck orders; this test is about retention
    assert "Personal data retention (30 days): erased 1 customer(s)" in out.getvalue()
    assert CustomerErasure.objects.get().by_retention


def test_the_operations_page_reports_retention_and_erasures(client, settings, manager, aged, protector):
    settings.ORDER_DESK_PERSONAL_DATA_RETENTION_DAYS = 30
    aged("Old", 40)
    aged("Older", 50)
    erased = aged("Asked", 1)
    customer_erase(customer_id=erased.pk, actor=protector, reason="Request DPR-1")
    client.force_login(manager)

    page = client.get("/ops/").content.decode()
    card = page[page.index('id="data-protection"'):]
    card = card[:card.index("</section>")]
    assert "30 days" in card
    assert ">2<" in card.replace(" ", "")  # due now: Old and Older
    assert "Customers erased in the last 30 days</td><td class=\"num\">1" in card
