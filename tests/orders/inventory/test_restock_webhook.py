"""The inventory system's signed "inventory.restocked" webhook: the units are on hand when it is answered 2xx, once,
and the orders waiting for them are woken; anything else is refused with a reason and stores nothing."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from orders.models import Backorder, Product, Warehouse, WarehouseStock
from orders.webhooks.models import WebhookEvent
from orders.webhooks.signing import sign
from temporal_bridge.order import stock_decisions as sd

SECRET = "inventory-test-secret"
URL = "/webhooks/inventory/"


@pytest.fixture(autouse=True)
def secret(settings):
    settings.WEBHOOK_SECRETS = {**settings.WEBHOOK_SECRETS, "inventory": SECRET}


def post(client, payload, *, secret: str = SECRET, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload).encode()
    return client.post(URL, body, content_type="application/json", headers={"X-OrderDesk-Signature": sign(secret, body)})


def restock(event_id: str = "evt-1", **fields) -> dict:
    return {"id": event_id, "type": "inventory.restocked", "warehouse": "MAIN", "sku": "SRV-1", "units": 6, **fields}


def on_hand(product) -> tuple[int, int]:
    return WarehouseStock.objects.get(product=product, warehouse__code="MAIN").on_hand, Product.objects.get(pk=product.pk).stock_on_hand


@pytest.mark.django_db(transaction=True)
def test_a_signed_restock_adds_the_units_once_and_wakes_the_orders_waiting(client, fake_temporal, make_order, server):
    order = make_order(product=server, quantity=8)
    Backorder.objects.create(order=order, product=server, quantity=8, until=timezone.now() + timedelta(days=3))

    first = post(client, restock())
    again = post(client, restock())  # the inventory system delivers it a second time

    assert (first.status_code, first.json()["status"]) == (200, "applied")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert on_hand(server) == (11, 11)
    event = WebhookEvent.objects.get(provider="inventory")
    assert (event.type, event.payload, event.order) == ("inventory.restocked", {"warehouse": "MAIN", "sku": "SRV-1", "units": 6}, None)
    assert [(s.order_id, s.name) for s in fake_temporal.signals] == [(order.pk, sd.SIGNAL_STOCK_ARRIVED)]


@pytest.mark.django_db
def test_a_restock_into_a_warehouse_that_never_held_the_product_starts_its_stock(client, server):
    Warehouse.objects.create(code="EAST", name="East")
    assert post(client, restock(warehouse="EAST", units=4)).status_code == 200
    assert WarehouseStock.objects.get(product=server, warehouse__code="EAST").on_hand == 4
    assert Product.objects.get(pk=server.pk).stock_on_hand == 9


@pytest.mark.django_db
@pytest.mark.parametrize(("payload", "status"), [
    (restock(units=0), 400), (restock(units="6"), 400), (restock(units=True), 400), (restock(units=10**9), 400),
    (restock(type="inventory.counted"), 400), (restock(extra="x"), 400), (restock(event_id=""), 400), (["not", "an", "object"], 400),
    (restock(sku="NOPE-1"), 422), (restock(warehouse="NOWHERE"), 422), (restock(sku=["SRV-1"]), 400),
])
def test_an_event_the_desk_cannot_apply_is_refused_and_changes_nothing(client, server, payload, status):
    response = post(client, payload)
    assert response.status_code == status and response.json()["error"]
    assert on_hand(server) == (5, 5) and not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_an_unsigned_or_wrongly_signed_restock_is_refused(client, server):
    assert post(client, restock(), secret="guessed").status_code == 401
    assert client.post(URL, json.dumps(restock()), content_type="application/json").status_code == 401
    assert post(client, None, raw=b"\xff\xfe not json").status_code == 400
    assert post(client, None, raw=b"x" * 100_000).status_code == 413
    assert on_hand(server) == (5, 5) and not WebhookEvent.objects.exists()
