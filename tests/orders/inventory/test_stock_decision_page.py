"""The stock decision on the order page: who sees the choice, what the POST sends, what it refuses; and the wake-up a restock sends."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from orders import steps
from orders.intents.models import RecordedIntent
from orders.inventory import services
from orders.models import Backorder, Order, OrderLine
from orders.timeline import mirror
from orders.timeline.models import OrderEvent
from temporal_bridge.order import states
from temporal_bridge.order import stock_decisions as sd
from temporal_bridge.order.records import MirrorInput
from tests.conftest import make_user
from tests.orders.pages import HTMX, REQUEST_ID, logged_in, url

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting_order(make_order, widget, server):
    """3 widgets reserved; 8 servers (5 in stock) waiting for a decision, as the workflow's stock_wait entry leaves it."""
    order = make_order(product=widget, quantity=3, status=states.PROCESSING)
    OrderLine.objects.create(order=order, product=server, quantity=8, unit_price=server.price)
    steps.stock_reserve(order_id=order.pk, keep_available=True)
    Order.objects.filter(pk=order.pk).update(awaiting_stock=True)
    return Order.objects.get(pk=order.pk)


def test_the_requester_sees_a_choice_per_missing_line(client, clerk, fake_temporal, waiting_order):
    html = logged_in(client, clerk).get(waiting_order.get_absolute_url()).content.decode()
    assert 'id="stock-decision"' in html and 'data-missing-line="SRV-1"' in html and 'data-missing-line="WID-1"' not in html
    assert f'name="line-{waiting_order.lines.get(product__sku="SRV-1").product_id}" value="backorder"' in html


def test_someone_who_may_only_look_sees_the_lines_but_no_choice(client, auditor, fake_temporal, waiting_order):
    html = logged_in(client, auditor).get(waiting_order.get_absolute_url()).content.decode()
    assert 'id="stock-decision"' in html and "The requester or a clerk who may change orders decides." in html
    assert "Send stock decision" not in html


def test_the_choice_is_recorded_then_sent_as_the_workflow_reads_it(client, clerk, fake_temporal, waiting_order, server):
    response = logged_in(client, clerk).post(url("stock_decision", waiting_order),
                                             {"request_id": REQUEST_ID, f"line-{server.pk}": "backorder"}, headers=HTMX)
    assert response.status_code == 200
    [sent] = fake_temporal.signals
    assert sent.name == sd.SIGNAL_STOCK_DECISION
    assert sent.payload == sd.StockDecisionSignal("clerk", REQUEST_ID, {str(server.pk): "backorder"})
    assert RecordedIntent.objects.get(order=waiting_order, request_id=REQUEST_ID).signal == sd.SIGNAL_STOCK_DECISION


@pytest.mark.parametrize("fields", [{}, {"line-x": "drop"}, {"line-5": "sell"}, {"line-" + "9" * 30: "drop"}])
def test_a_malformed_choice_is_a_400_and_sends_nothing(client, clerk, fake_temporal, waiting_order, fields):
    response = logged_in(client, clerk).post(url("stock_decision", waiting_order), {"request_id": REQUEST_ID, **fields})
    assert response.status_code == 400
    assert not fake_temporal.signals and not RecordedIntent.objects.exists()


def test_no_choice_while_the_order_waits_for_none(client, clerk, fake_temporal, make_order, widget):
    order = make_order(status=states.PROCESSING)
    response = logged_in(client, clerk).post(url("stock_decision", order), {"request_id": REQUEST_ID, f"line-{widget.pk}": "drop"})
    assert response.status_code == 409 and not fake_temporal.signals


def test_someone_neither_requester_nor_allowed_to_change_orders_is_refused(client, auditor, fake_temporal, waiting_order, server):
    response = logged_in(client, auditor).post(url("stock_decision", waiting_order),
                                               {"request_id": REQUEST_ID, f"line-{server.pk}": "drop"})
    assert response.status_code == 403 and not fake_temporal.signals


@pytest.mark.django_db(transaction=True)
def test_a_stock_receipt_in_the_admin_wakes_the_orders_waiting_for_that_product(client, fake_temporal, waiting_order, server, widget):
    Backorder.objects.create(order=waiting_order, product=server, quantity=8, until=timezone.now() + timedelta(days=14))
    logged_in(client, make_user("boss", is_staff=True, is_superuser=True))
    row = server.warehouse_stock.get()
    client.post(reverse("admin:orders_warehousestock_change", args=[row.pk]), {"on_hand": "20"})
    assert [(s.order_id, s.name) for s in fake_temporal.signals] == [(waiting_order.pk, sd.SIGNAL_STOCK_ARRIVED)]
    # Stock of another product wakes nobody; nor does a count that goes down.
    services.stock_set_on_hand(warehouse_id=row.warehouse_id, product_id=widget.pk, on_hand=500)
    services.stock_set_on_hand(warehouse_id=row.warehouse_id, product_id=server.pk, on_hand=19)
    assert len(fake_temporal.signals) == 1


def test_the_list_filters_the_orders_waiting_for_a_stock_decision(client, clerk, fake_temporal, waiting_order, make_order):
    other = make_order()
    html = logged_in(client, clerk).get(reverse("orders:list"), {"stock": "on"}).content.decode()
    assert waiting_order.number in html and other.number not in html


def test_the_mirror_raises_and_clears_the_flag_with_the_workflows_entries(make_order):
    order = make_order(status=states.PROCESSING)
    mirror.order_record_entries([MirrorInput(order.pk, "0005-stock_wait", sd.KIND_STOCK_WAIT, "Waiting for a stock decision: …")])
    assert Order.objects.get(pk=order.pk).awaiting_stock
    mirror.order_record_entries([MirrorInput(order.pk, "0006-stock_decided", sd.KIND_STOCK_DECIDED, "Stock decision: …")])
    assert not Order.objects.get(pk=order.pk).awaiting_stock
    assert OrderEvent.objects.filter(order=order).count() == 2


def test_the_list_filters_by_warehouse_code(client, clerk, fake_temporal, waiting_order, make_order):
    elsewhere = make_order()
    html = logged_in(client, clerk).get(reverse("orders:list"), {"warehouse": "main"}).content.decode()
    assert waiting_order.number in html and elsewhere.number not in html
    assert logged_in(client, clerk).get(reverse("orders:list"), {"warehouse": "<script>"}).status_code == 400
