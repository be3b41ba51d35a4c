"""Warehouses end to end on a real Temporal dev server and worker: an order splits across two warehouses, its third
line is in none, the requester backorders it, the inventory system's signed restock webhook brings it into a third
warehouse and wakes the order, which then takes payment for everything and ships from all three."""
from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from django.test import Client

from orders import services
from orders.inventory import services as inventory
from orders.models import Backorder, Order, Parcel, ParcelEvent, Product, StockReservation, Warehouse, WarehouseStock
from orders.payments.models import PaymentTransaction
from orders.timeline.models import OrderEvent
from orders.webhooks import signing
from orders.webhooks.models import WebhookEvent
from temporal_bridge.order import states
from temporal_bridge.shipment import messages as shipment
from tests.integration.test_lifecycle import finished, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SECRET = "whsec_inventory_e2e"


def restock(sku: str, warehouse: str, units: int) -> int:
    body = json.dumps({"id": f"restock-{uuid.uuid4().hex}", "type": "inventory.restocked", "warehouse": warehouse, "sku": sku,
                       "units": units}).encode()
    return Client().post("/webhooks/inventory/", data=body, content_type="application/json",
                         **{signing.SIGNATURE_META: signing.sign(SECRET, body)}).status_code


def test_a_split_order_backorders_a_line_a_signed_restock_fills_and_then_ships(stack, settings, clerk, customer):
    settings.WEBHOOK_SECRETS = {**settings.WEBHOOK_SECRETS, "inventory": SECRET}
    settings.ORDER_FULFILMENT_STEP_SECONDS = 0.05
    east = Warehouse.objects.create(code="EAST", name="East")
    Warehouse.objects.create(code="WEST", name="West")
    desk = Product.objects.create(sku="DESK-W", name="Desk", price=Decimal("40.00"), stock_on_hand=10)  # MAIN
    lamp = Product.objects.create(sku="LAMP-W", name="Lamp", price=Decimal("25.00"))
    inventory.stock_set_on_hand(warehouse_id=east.pk, product_id=lamp.pk, on_hand=10)
    printer = Product.objects.create(sku="PRN-W", name="Printer", price=Decimal("90.00"))  # nowhere yet

    order = services.order_submit(customer=customer, created_by=clerk, shipping_address="1 Main Street",
                                  lines=[services.LineRequest(desk, 2), services.LineRequest(lamp, 1), services.LineRequest(printer, 1)])
    wait_for(lambda: Order.objects.get(pk=order.pk).awaiting_stock, what="the stock decision awaited")
    held = dict(StockReservation.objects.filter(order=order).values_list("product__sku", "warehouse__code"))
    assert held == {"DESK-W": "MAIN", "LAMP-W": "EAST"}  # split: no one warehouse holds both

    verdict = services.order_request_stock_decision(order=Order.objects.get(pk=order.pk), user=clerk, choices={printer.pk: "backorder"},
                                                    request_id=f"stock-{uuid.uuid4().hex}")
    assert verdict.status == "accepted"
    wait_for(lambda: Backorder.objects.filter(order=order, status="waiting").exists(), what="the backorder recorded")
    assert not PaymentTransaction.objects.filter(order=order).exists()  # nothing is charged while a line waits

    assert restock("PRN-W", "WEST", 3) == 200

    final = finished(order.pk)
    assert final.state == states.FULFILLED
    shipped = dict(StockReservation.objects.filter(order=order, status="shipped").values_list("product__sku", "warehouse__code"))
    assert shipped == {"DESK-W": "MAIN", "LAMP-W": "EAST", "PRN-W": "WEST"}
    assert PaymentTransaction.objects.get(order=order, kind="capture").amount == Decimal("195.00")
    assert Backorder.objects.get(order=order).status == "filled"
    rows = WarehouseStock.objects.select_related("warehouse", "product")
    stock = {(r.warehouse.code, r.product.sku): (r.on_hand, r.reserved) for r in rows}
    assert stock == {("MAIN", "DESK-W"): (8, 0), ("EAST", "LAMP-W"): (9, 0), ("WEST", "PRN-W"): (2, 0)}
    words = list(OrderEvent.objects.filter(order=order).order_by("idempotency_key").values_list("message", flat=True))
    assert any(w.startswith("Waiting for a stock decision: no warehouse holds") for w in words)
    assert "Stock decision: restocked and reserved 1 × PRN-W" in words
    assert [e.message for e in final.timeline] == words  # the mirror tells the workflow's story


CARRIER_SECRET = "whsec_carrier_split_e2e"


def carrier_webhook(order: Order, parcel: Parcel, n: int, kind: str) -> int:
    body = json.dumps({"id": f"c-{parcel.warehouse}-{n}-{uuid.uuid4().hex[:6]}", "type": f"parcel.{kind}", "order": order.number,
                       "tracking_number": parcel.tracking_number, "at": f"2026-12-0{n + 1}T08:00:00+00:00",
                       "location": f"{parcel.warehouse} hub"}).encode()
    return Client().post(f"/webhooks/{shipment.PROVIDER_CARRIER}/", data=body, content_type="application/json",
                         **{signing.SIGNATURE_META: signing.sign(CARRIER_SECRET, body)}).status_code


def test_a_split_orders_two_parcels_are_each_delivered_by_the_carriers_webhooks(stack, settings, clerk, customer):
    settings.WEBHOOK_SECRETS = {**settings.WEBHOOK_SECRETS, shipment.PROVIDER_CARRIER: CARRIER_SECRET}
    # Each part packs for about 6 s: long enough to see the order between its two parcels.
    settings.ORDER_FULFILMENT_STEP_SECONDS = 0.6
    settings.ORDER_DESK_TRACK_DELIVERY = True
    east = Warehouse.objects.create(code="EAST", name="East")
    desk = Product.objects.create(sku="DESK-S", name="Desk", price=Decimal("40.00"), stock_on_hand=10)  # MAIN
    lamp = Product.objects.create(sku="LAMP-S", name="Lamp", price=Decimal("25.00"))
    inventory.stock_set_on_hand(warehouse_id=east.pk, product_id=lamp.pk, on_hand=10)

    order = services.order_submit(customer=customer, created_by=clerk, shipping_address="1 Main Street",
                                  lines=[services.LineRequest(desk, 2), services.LineRequest(lamp, 1)])
    # MAIN's part shipped while EAST's is packed: partially shipped, and MAIN's parcel already followed.
    between = wait_for(lambda: Order.objects.filter(pk=order.pk, status=states.PARTIALLY_SHIPPED).first(), what="partially shipped")
    assert not Parcel.objects.filter(order=order, warehouse="EAST").exists()
    wait_for(lambda: Parcel.objects.filter(order=order, warehouse="MAIN").exists(), what="MAIN's parcel followed")
    page = Client()
    page.force_login(clerk)
    html = page.get(f"/orders/{order.pk}/").content.decode()
    if Order.objects.get(pk=order.pk).status == states.PARTIALLY_SHIPPED:  # EAST may have shipped meanwhile on a slow machine
        assert "Partially shipped: MAIN shipped, EAST not shipped yet" in html
    assert between.get_status_display() == "Partially shipped"
    wait_for(lambda: Parcel.objects.filter(order=order).count() == 2, what="both shipments to open their parcels")
    parcels = {parcel.warehouse: parcel for parcel in Parcel.objects.filter(order=order)}
    assert set(parcels) == {"MAIN", "EAST"} and parcels["MAIN"].tracking_number != parcels["EAST"].tracking_number

    assert carrier_webhook(order, parcels["EAST"], 0, "in_transit") == 200
    assert carrier_webhook(order, parcels["EAST"], 1, "delivered") == 200
    wait_for(lambda: Parcel.objects.get(order=order, warehouse="EAST").status == shipment.PARCEL_DELIVERED, what="EAST delivered")
    assert Order.objects.get(pk=order.pk).status == states.IN_TRANSIT  # MAIN still travels
    assert carrier_webhook(order, parcels["MAIN"], 2, "delivered") == 200

    final = finished(order.pk)
    assert final.state == states.DELIVERED
    assert {p.warehouse: p.status for p in Parcel.objects.filter(order=order)} == {"MAIN": "delivered", "EAST": "delivered"}
    assert list(ParcelEvent.objects.filter(parcel__order=order, parcel__warehouse="EAST").values_list("location", flat=True)) == [
        "EAST hub", "EAST hub"]
    assert set(WebhookEvent.objects.filter(order=order).values_list("status", flat=True)) == {WebhookEvent.Delivery.DELIVERED}
    words = list(OrderEvent.objects.filter(order=order).order_by("idempotency_key").values_list("message", flat=True))
    # Each warehouse's part packed and shipped on its own, MAIN (the default) first.
    assert words.index("Fulfilment from MAIN started") < words.index("Partially shipped: MAIN shipped, EAST not shipped yet") \
        < words.index("Fulfilment from EAST started")
    assert [w.split(" with ")[0] for w in words if w.startswith("Shipped from")] == ["Shipped from MAIN", "Shipped from EAST"]
    assert words[-1] == "Delivered: all 2 parcels"
    assert [e.message for e in final.timeline] == words  # the mirror tells the workflow's story


def test_a_parcel_shipped_before_a_cancel_is_still_followed_and_the_order_ends_cancelled_saying_it_was_delivered(
        stack, settings, clerk, manager, customer):
    settings.WEBHOOK_SECRETS = {**settings.WEBHOOK_SECRETS, shipment.PROVIDER_CARRIER: CARRIER_SECRET}
    settings.ORDER_FULFILMENT_STEP_SECONDS = 0.6
    settings.ORDER_DESK_TRACK_DELIVERY = True
    east = Warehouse.objects.create(code="EAST", name="East")
    desk = Product.objects.create(sku="DESK-C", name="Desk", price=Decimal("40.00"), stock_on_hand=10)  # MAIN
    lamp = Product.objects.create(sku="LAMP-C", name="Lamp", price=Decimal("25.00"))
    inventory.stock_set_on_hand(warehouse_id=east.pk, product_id=lamp.pk, on_hand=10)
    order = services.order_submit(customer=customer, created_by=clerk, shipping_address="1 Main Street",
                                  lines=[services.LineRequest(desk, 2), services.LineRequest(lamp, 1)])

    between = wait_for(lambda: Order.objects.filter(pk=order.pk, status=states.PARTIALLY_SHIPPED).first(), what="partially shipped")
    verdict = services.order_request_cancel(order=between, user=manager, reason="Customer needs only the desk",
                                            request_id=f"cancel-{uuid.uuid4().hex}")
    assert verdict.status == "accepted"
    wait_for(lambda: Order.objects.filter(pk=order.pk, status=states.IN_TRANSIT).exists(), what="the shipped parcel followed")
    main = wait_for(lambda: Parcel.objects.filter(order=order, warehouse="MAIN").first(), what="MAIN's parcel")
    assert not Parcel.objects.filter(order=order, warehouse="EAST").exists()
    assert carrier_webhook(order, main, 0, "delivered") == 200

    final = finished(order.pk)
    assert final.state == states.CANCELLED
    assert Parcel.objects.get(order=order, warehouse="MAIN").status == shipment.PARCEL_DELIVERED
    assert final.timeline[-1].message == ("Cancelled: Customer needs only the desk; "
                                          "shipped before the cancel: the parcel from MAIN delivered")
    ledger = dict(PaymentTransaction.objects.filter(order=order).values_list("kind", "amount"))
    assert ledger == {"capture": Decimal("105.00"), "refund": Decimal("25.00")}, "the desks that shipped stay paid for"
    statuses = dict(StockReservation.objects.filter(order=order).values_list("warehouse__code", "status"))
    assert statuses == {"MAIN": "shipped", "EAST": "released"}
    words = list(OrderEvent.objects.filter(order=order).order_by("idempotency_key").values_list("message", flat=True))
    assert [e.message for e in final.timeline] == words  # the mirror tells the workflow's story
