"""A split order's parts shipped one by one, and a cancel between them: only what did not ship is released and refunded."""
from __future__ import annotations

from decimal import Decimal

import pytest

from orders import steps
from orders.inventory import services as inventory
from orders.models import Order, OrderLine, PaymentTransaction, StockReservation, Warehouse, WarehouseStock
from orders.payments import services as payments

pytestmark = pytest.mark.django_db


@pytest.fixture
def split_order(make_order, widget, server):
    """3 widgets (only MAIN has them) and 7 servers (MAIN has 5, EAST 10): MAIN + EAST."""
    east = Warehouse.objects.create(code="EAST", name="East coast warehouse")
    inventory.stock_set_on_hand(warehouse_id=east.pk, product_id=server.pk, on_hand=10)
    order = make_order(product=widget, quantity=3)
    OrderLine.objects.create(order=order, product=server, quantity=7, unit_price=server.price)
    return order


def charged(order: Order) -> Order:
    """The whole order (3 widgets at 10.00 from MAIN, 7 servers at 1000.00 from EAST) reserved and charged."""
    Order.objects.filter(pk=order.pk).update(total=Decimal("7030.00"))
    steps.stock_reserve(order_id=order.pk)
    payments.payment_capture(order_id=order.pk, idempotency_key=f"capture-{order.pk}")
    return order


def stock() -> dict[tuple[str, str], tuple[int, int]]:
    rows = WarehouseStock.objects.select_related("warehouse", "product")
    return {(r.warehouse.code, r.product.sku): (r.on_hand, r.reserved) for r in rows}


def test_each_part_ships_alone_under_its_own_parcel_and_the_rest_waits(split_order):
    charged(split_order)
    assert steps.fulfilments_to_ship(order_id=split_order.pk) == ["MAIN", "EAST"]

    first = steps.fulfilment_ship(order_id=split_order.pk, warehouse="MAIN")
    assert first.parcels == [("MAIN", f"{first.tracking_number}-MAIN")]
    assert steps.fulfilment_ship(order_id=split_order.pk, warehouse="MAIN") == first, "a retried step ships nothing more"
    assert steps.fulfilments_to_ship(order_id=split_order.pk) == ["EAST"]
    held = dict(StockReservation.objects.filter(order=split_order).values_list("warehouse__code", "status"))
    assert held == {"MAIN": "shipped", "EAST": "held"}
    assert stock()[("MAIN", "WID-1")][1] == 0 and stock()[("EAST", "SRV-1")] == (10, 7)


def test_a_cancel_after_one_part_shipped_refunds_and_releases_only_the_other(split_order):
    charged(split_order)
    steps.fulfilment_ship(order_id=split_order.pk, warehouse="MAIN")

    refund = payments.payment_refund(order_id=split_order.pk, idempotency_key=f"refund-{split_order.pk}")
    assert steps.stock_release(order_id=split_order.pk) == 7

    assert refund is not None and refund.amount == Decimal("7000.00"), "the 30.00 of widgets shipped stays paid"
    ledger = dict(PaymentTransaction.objects.filter(order=split_order).values_list("kind", "amount"))
    assert ledger == {"capture": Decimal("7030.00"), "refund": Decimal("7000.00")}
    assert stock()[("EAST", "SRV-1")] == (10, 0) and stock()[("MAIN", "WID-1")][1] == 0
    assert payments.payment_refund(order_id=split_order.pk, idempotency_key=f"refund-{split_order.pk}") == refund, "once"


def test_an_order_that_shipped_nothing_is_refunded_in_full_as_before(split_order):
    charged(split_order)
    refund = payments.payment_refund(order_id=split_order.pk, idempotency_key=f"refund-{split_order.pk}")
    assert refund is not None and refund.amount == Decimal("7030.00")
