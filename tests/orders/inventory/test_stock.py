"""Stock per warehouse: the opening stock, the reservation the split plan makes, release, ship, counts in the admin."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from orders import steps
from orders.exceptions import OrderError, OutOfStock
from orders.inventory import selectors, services
from orders.models import OrderLine, Product, StockReservation, Warehouse, WarehouseStock
from tests.conftest import make_user
from tests.orders.test_new_order_form import preview

pytestmark = pytest.mark.django_db


@pytest.fixture
def east(db):
    return Warehouse.objects.create(code="EAST", name="East coast warehouse")


@pytest.fixture
def west(db):
    return Warehouse.objects.create(code="WEST", name="West coast warehouse")


def stock(warehouse, product, on_hand):
    services.stock_set_on_hand(warehouse_id=warehouse.pk, product_id=product.pk, on_hand=on_hand)


def levels(product):
    """{warehouse code: (on hand, reserved)}, and the product's totals, which must be their sum."""
    product = Product.objects.get(pk=product.pk)
    rows = {row.warehouse.code: (row.on_hand, row.reserved)
            for row in WarehouseStock.objects.filter(product=product).select_related("warehouse")}
    assert product.stock_on_hand == sum(on_hand for on_hand, _ in rows.values())
    assert product.stock_reserved == sum(reserved for _, reserved in rows.values())
    return rows


def test_a_new_products_opening_stock_is_in_the_default_warehouse(widget):
    assert levels(widget) == {"MAIN": (100, 0)}
    assert Warehouse.objects.get(code="MAIN").is_default


def test_an_order_one_warehouse_cannot_hold_splits_across_the_fewest(make_order, widget, server, east, west):
    stock(east, server, 10)
    stock(west, server, 10)
    order = make_order(product=widget, quantity=3)
    OrderLine.objects.create(order=order, product=server, quantity=7, unit_price=server.price)  # MAIN has 5

    plan, missing = steps.stock_reserve(order_id=order.pk)
    assert missing == ""

    assert [(f.warehouse, [(line.product_id, line.quantity) for line in f.lines]) for f in plan.fulfilments] == [
        ("MAIN", [(widget.pk, 3)]), ("EAST", [(server.pk, 7)])]
    assert levels(widget) == {"MAIN": (100, 3)}
    assert levels(server) == {"MAIN": (5, 0), "EAST": (10, 7), "WEST": (10, 0)}
    assert sorted(StockReservation.objects.filter(order=order).values_list("warehouse__code", "quantity")) == [("EAST", 7), ("MAIN", 3)]
    # Run again (an activity's retry): nothing new, the same plan.
    assert steps.stock_reserve(order_id=order.pk)[0] == plan
    assert levels(server)["EAST"] == (10, 7)


def test_release_and_ship_move_only_the_warehouses_that_hold_the_units(make_order, widget, server, east):
    stock(east, server, 10)
    shipped = make_order(product=server, quantity=7)
    released = make_order(product=server, quantity=2)
    steps.stock_reserve(order_id=shipped.pk)
    steps.stock_reserve(order_id=released.pk)
    assert levels(server) == {"MAIN": (5, 2), "EAST": (10, 7)}

    assert steps.stock_release(order_id=released.pk) == 2
    assert steps.stock_release(order_id=released.pk) == 0
    steps.order_ship(order_id=shipped.pk)
    assert steps.order_ship(order_id=shipped.pk).parcels == [], "one warehouse: one parcel, the order's own"

    assert levels(server) == {"MAIN": (5, 0), "EAST": (3, 0)}
    assert StockReservation.objects.get(order=shipped).status == StockReservation.Status.SHIPPED


def test_a_line_no_warehouse_holds_whole_fails_the_reservation_and_writes_nothing(make_order, widget, server, east):
    stock(east, server, 4)  # 5 in MAIN + 4 in EAST, but a line ships whole from one
    order = make_order(product=widget, quantity=3)
    OrderLine.objects.create(order=order, product=server, quantity=6, unit_price=server.price)

    # The steps make no savepoint of their own (their activity's transaction fails whole): carrying on after
    # the error, as this test does, takes one.
    with pytest.raises(OutOfStock, match=r"Out of stock: no warehouse holds 6 × SRV-1 \(at most 5 in any one warehouse\)"), \
            transaction.atomic():
        steps.stock_reserve(order_id=order.pk)

    assert not StockReservation.objects.exists()
    assert levels(widget) == {"MAIN": (100, 0)}


def test_an_inactive_warehouse_ships_nothing(make_order, server, east):
    stock(east, server, 10)
    Warehouse.objects.filter(pk=east.pk).update(active=False)
    order = make_order(product=server, quantity=7)
    with pytest.raises(OutOfStock):
        steps.stock_reserve(order_id=order.pk)


def test_a_count_never_goes_below_what_orders_hold(make_order, server):
    main = Warehouse.objects.get(code="MAIN")
    steps.stock_reserve(order_id=make_order(product=server, quantity=4).pk)
    with pytest.raises(OrderError, match="4 units here are reserved"):
        services.stock_set_on_hand(warehouse_id=main.pk, product_id=server.pk, on_hand=3)
    with pytest.raises(OrderError):
        services.stock_set_on_hand(warehouse_id=main.pk, product_id=server.pk, on_hand=-1)
    services.stock_set_on_hand(warehouse_id=main.pk, product_id=server.pk, on_hand=12)
    assert levels(server) == {"MAIN": (12, 4)}


def test_availability_by_warehouse_in_words(server, east, west):
    stock(east, server, 7)
    stock(west, server, 0)
    server = Product.objects.prefetch_related("warehouse_stock__warehouse").get(pk=server.pk)
    assert selectors.stock_by_warehouse_text(server) == "MAIN 5 · EAST 7"


def test_the_admin_receives_stock_per_warehouse_and_refuses_a_count_below_the_reserved(client, make_order, server, east):
    admin_user = make_user("boss", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    add = client.post(reverse("admin:orders_warehousestock_add"), {"warehouse": east.pk, "product": server.pk, "on_hand": "8"})
    assert add.status_code == 302
    assert levels(server) == {"MAIN": (5, 0), "EAST": (8, 0)}

    steps.stock_reserve(order_id=make_order(product=server, quantity=7).pk)  # only EAST holds 7
    row = WarehouseStock.objects.get(warehouse=east, product=server)
    refused = client.post(reverse("admin:orders_warehousestock_change", args=[row.pk]), {"on_hand": "6"})
    assert refused.status_code == 200
    assert "7 units here are reserved for orders" in refused.content.decode()
    assert levels(server)["EAST"] == (8, 7)

    product_page = client.get(reverse("admin:orders_product_change", args=[server.pk]))
    assert "Stock by warehouse" in product_page.content.decode()


def test_the_new_order_form_shows_availability_by_warehouse_and_where_the_order_would_ship(client, clerk, policies, customer, widget,
                                                                                          server, east):
    stock(east, server, 9)
    client.force_login(clerk)
    form = client.get(reverse("orders:new")).content.decode()
    assert "(14 available: MAIN 5 · EAST 9)" in form
    body = preview(client, customer, [(widget.pk, 2), (server.pk, 8)]).content.decode()
    assert "Would ship from MAIN + EAST (split: one parcel per warehouse)" in body
    assert "stock-short" not in body


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_each_products_stock_into_the_default_warehouse():
    executor = MigrationExecutor(connection)
    before, after = [("orders", "0017_customer_keys")], [("orders", "0018_warehouse_stock")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    product = old.get_model("orders", "Product").objects.create(sku="OLD-1", name="Old", price=Decimal("1.00"),
                                                                stock_on_hand=9, stock_reserved=4)
    customer = old.get_model("orders", "Customer").objects.create(name="C", email="c@example.com")
    user = old.get_model("auth", "User").objects.create(username="u")
    order = old.get_model("orders", "Order").objects.create(customer=customer, created_by=user, shipping_address="x")
    old.get_model("orders", "StockReservation").objects.create(order=order, product=product, quantity=4)
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        new = executor.loader.project_state(after).apps
        row = new.get_model("orders", "WarehouseStock").objects.get(product_id=product.pk)
        assert (row.warehouse.code, row.warehouse.is_default, row.on_hand, row.reserved) == ("MAIN", True, 9, 4)
        assert new.get_model("orders", "StockReservation").objects.get(order_id=order.pk).warehouse_id == row.warehouse_id
    finally:
        MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
