"""Concurrent orders reserving across warehouses never oversell and never deadlock (PostgreSQL row locks)."""
from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from django.db.models import Sum

from orders import steps
from orders.exceptions import OutOfStock
from orders.inventory import services
from orders.models import Order, OrderLine, Product, StockReservation, Warehouse, WarehouseStock
from tests.row_locks import lock_from_elsewhere

ORDERS = 12


@pytest.mark.django_db(transaction=True)
def test_twelve_orders_racing_for_stock_in_three_warehouses_take_exactly_what_there_is(customer, clerk):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one writer at a time: there is no race to prove; PostgreSQL's row locks are what this tests")
    main = services.default_warehouse()
    east = Warehouse.objects.create(code="EAST", name="East")
    west = Warehouse.objects.create(code="WEST", name="West")
    panel = Product.objects.create(sku="PANEL", name="Panel", price=Decimal("10.00"))
    bolt = Product.objects.create(sku="BOLT", name="Bolt", price=Decimal("1.00"))
    for warehouse in (main, east, west):
        services.stock_set_on_hand(warehouse_id=warehouse.pk, product_id=panel.pk, on_hand=5)
    for warehouse in (main, east):  # WEST has panels only: an order served there is split
        services.stock_set_on_hand(warehouse_id=warehouse.pk, product_id=bolt.pk, on_hand=3)
    orders = []
    for index in range(ORDERS):
        order = Order.objects.create(customer=customer, created_by=clerk, shipping_address="x", number=f"RACE-{index}")
        # Half the orders list their lines the other way round: the locks are taken in one order regardless.
        for product, quantity in ([(panel, 2), (bolt, 1)] if index % 2 else [(bolt, 1), (panel, 2)]):
            OrderLine.objects.create(order=order, product=product, quantity=quantity, unit_price=product.price)
        orders.append(order.pk)

    start = threading.Barrier(ORDERS)
    outcomes: dict[int, str] = {}

    def reserve(order_id: int) -> None:
        try:
            start.wait()
            steps.stock_reserve(order_id=order_id)
            outcomes[order_id] = "reserved"
        except OutOfStock:
            outcomes[order_id] = "out of stock"
        except Exception as err:  # a deadlock or a broken constraint: the test fails on it below
            outcomes[order_id] = repr(err)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=reserve, args=(order_id,)) for order_id in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # 6 bolts in all, and panels for 2 orders in each warehouse: exactly 6 orders can have theirs.
    assert sorted(outcomes.values()) == ["out of stock"] * 6 + ["reserved"] * 6
    for row in WarehouseStock.objects.all():
        held = StockReservation.objects.filter(warehouse=row.warehouse, product=row.product).aggregate(n=Sum("quantity"))["n"] or 0
        assert row.reserved == held <= row.on_hand
    for product in Product.objects.all():
        assert product.stock_reserved == WarehouseStock.objects.filter(product=product).aggregate(n=Sum("reserved"))["n"]
    assert Order.objects.filter(reservations__isnull=False).distinct().count() == 6
    assert StockReservation.objects.filter(warehouse=west).exists()  # some orders split to take WEST's panels


@pytest.mark.django_db(transaction=True)
def test_shipping_one_order_leaves_the_warehouse_free_for_the_next_orders_reservation(customer, clerk):
    # Shipping locked the warehouse rows read with its reservations; a reservation's insert there, which checks
    # the warehouse key, then waited on it while holding the stock rows the shipping waited for: a deadlock.
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no row locks: it runs one writer at a time")
    main = services.default_warehouse()
    bolt = Product.objects.create(sku="BOLT", name="Bolt", price=Decimal("1.00"))
    services.stock_set_on_hand(warehouse_id=main.pk, product_id=bolt.pk, on_hand=10)
    order = Order.objects.create(customer=customer, created_by=clerk, shipping_address="x", number="SHIP-1")
    OrderLine.objects.create(order=order, product=bolt, quantity=1, unit_price=bolt.price)
    steps.stock_reserve(order_id=order.pk)
    with transaction.atomic():
        services.held_reservations(order.pk)
        # The next reservation's insert there checks the warehouse key.
        outcome = lock_from_elsewhere("SELECT 1 FROM orders_warehouse WHERE id = %s FOR KEY SHARE NOWAIT", [main.pk])

    assert outcome == "went on"
