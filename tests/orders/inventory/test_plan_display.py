"""The split plan where people look: the order page, the approver's inbox row and the API, before and after the reservation."""
from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders import steps
from orders.delivery import services as parcels
from orders.inventory import services
from orders.models import Order, OrderLine, Warehouse
from temporal_bridge.order import states
from tests.orders.api.test_api import api, order_request, storefront  # noqa: F401 -- fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def split_order(make_order, widget, server):
    """3 widgets (only MAIN has them) and 7 servers (MAIN has 5, EAST 10): MAIN + EAST."""
    east = Warehouse.objects.create(code="EAST", name="East coast warehouse")
    services.stock_set_on_hand(warehouse_id=east.pk, product_id=server.pk, on_hand=10)
    order = make_order(product=widget, quantity=3)
    OrderLine.objects.create(order=order, product=server, quantity=7, unit_price=server.price)
    return order


def cards(html: str) -> list[str]:
    return re.findall(r'data-warehouse="([A-Z0-9-]+)"', html)


def test_the_order_page_shows_the_planned_split_then_the_reserved_one(client, manager, fake_temporal, split_order):
    client.force_login(manager)
    html = client.get(split_order.get_absolute_url()).content.decode()
    assert 'data-plan-source="preview"' in html and "Split across 2 warehouses" in html
    assert cards(html) == ["MAIN", "EAST"]
    assert "7 × SRV-1" in html and "3 × WID-1" in html

    steps.stock_reserve(order_id=split_order.pk)
    html = client.get(split_order.get_absolute_url()).content.decode()
    assert 'data-plan-source="reserved"' in html and cards(html) == ["MAIN", "EAST"]
    assert html.count('<span class="flag">Held</span>') == 2

    steps.order_ship(order_id=split_order.pk)
    html = client.get(split_order.get_absolute_url()).content.decode()
    assert html.count('<span class="flag">Shipped</span>') == 2


def test_a_split_order_ships_a_parcel_per_warehouse_named_the_same_when_the_step_runs_again(split_order):
    steps.stock_reserve(order_id=split_order.pk)
    shipped = steps.order_ship(order_id=split_order.pk)
    base = shipped.tracking_number
    assert shipped.parcels == [("MAIN", f"{base}-MAIN"), ("EAST", f"{base}-EAST")]
    assert steps.order_ship(order_id=split_order.pk) == shipped, "a retried step names the same parcels"


def test_the_order_page_warns_of_lines_no_warehouse_holds(client, manager, fake_temporal, make_order, server):
    order = make_order(product=server, quantity=6)
    client.force_login(manager)
    html = client.get(order.get_absolute_url()).content.decode()
    assert "No warehouse holds in full: 6 × SRV-1" in html


def test_a_finished_order_that_reserved_nothing_shows_no_plan(client, manager, fake_temporal, make_order):
    order = make_order(status=states.REJECTED)
    client.force_login(manager)
    assert 'id="fulfilment-plan"' not in client.get(order.get_absolute_url()).content.decode()


def test_the_inbox_row_says_where_the_order_ships_from_in_a_fixed_number_of_queries(client, manager, fake_temporal, split_order,
                                                                                   make_order):
    client.force_login(manager)
    client.get("/approvals/")  # sessions, permissions and caches warmed
    with CaptureQueriesContext(connection) as few:
        html = client.get("/approvals/").content.decode()
    assert "MAIN (3 × WID-1) + EAST (7 × SRV-1)" in html
    assert '<span class="flag" title="One parcel per warehouse">Split</span>' in html
    for _ in range(10):
        make_order()
    with CaptureQueriesContext(connection) as many:
        client.get("/approvals/")
    assert len(many) == len(few)


def test_the_api_shows_the_plan_before_and_after_the_reservation(api, customer, widget, server, fake_temporal):  # noqa: F811
    east = Warehouse.objects.create(code="EAST", name="East coast warehouse")
    services.stock_set_on_hand(warehouse_id=east.pk, product_id=server.pk, on_hand=10)
    created = api.post("/orders", {**order_request(customer, widget, 3),
                                   "lines": [{"sku": "WID-1", "quantity": 3}, {"sku": "SRV-1", "quantity": 7}]}).json()
    body = api.get(f"/orders/{created['number']}").json()
    assert body["fulfilment_plan"] == {
        "source": "preview", "unavailable": [],
        "fulfilments": [{"warehouse": "MAIN", "status": "", "lines": [{"sku": "WID-1", "quantity": 3}]},
                        {"warehouse": "EAST", "status": "", "lines": [{"sku": "SRV-1", "quantity": 7}]}],
    }

    steps.stock_reserve(order_id=Order.objects.get(number=created["number"]).pk)
    body = api.get(f"/orders/{created['number']}").json()
    assert body["fulfilment_plan"]["source"] == "reserved"
    assert [(f["warehouse"], f["status"]) for f in body["fulfilment_plan"]["fulfilments"]] == [("MAIN", "held"), ("EAST", "held")]
    assert body["parcels"] == []


def test_the_api_lists_a_split_orders_parcels_each_with_its_tracking_number(api, customer, widget, fake_temporal):  # noqa: F811
    created = api.post("/orders", order_request(customer, widget, 3)).json()
    order = Order.objects.get(number=created["number"])
    for warehouse in ("MAIN", "EAST"):
        parcels.parcel_open(order_id=order.pk, carrier="Parcelo", tracking_number=f"1Z9-{warehouse}",
                            promised_by="2026-12-09T08:00:00+00:00", warehouse=warehouse)
    parcels.parcel_flag_late(order_id=order.pk, promised_by="2026-12-09T08:00:00+00:00", warehouse="EAST")
    body = api.get(f"/orders/{created['number']}").json()
    assert body["parcels"] == [
        {"warehouse": "MAIN", "carrier": "Parcelo", "tracking_number": "1Z9-MAIN", "status": "shipped", "late": False},
        {"warehouse": "EAST", "carrier": "Parcelo", "tracking_number": "1Z9-EAST", "status": "shipped", "late": True},
    ]


def test_a_reserved_plan_names_the_lines_still_waiting_and_the_page_strikes_dropped_ones(client, manager, fake_temporal, make_order,
                                                                                         widget, server):
    order = make_order(product=widget, quantity=3)
    OrderLine.objects.create(order=order, product=server, quantity=8, unit_price=server.price)
    steps.stock_reserve(order_id=order.pk, keep_available=True)
    client.force_login(manager)
    html = client.get(order.get_absolute_url()).content.decode()
    assert 'data-plan-source="reserved"' in html and "No warehouse holds in full: 8 × SRV-1" in html

    OrderLine.objects.filter(order=order, product=server).update(dropped=True)
    html = client.get(order.get_absolute_url()).content.decode()
    assert "No warehouse holds in full" not in html and '<span class="flag">Dropped</span>' in html
