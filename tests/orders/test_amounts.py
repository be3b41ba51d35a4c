"""Amounts an order can hold: an impossible order is a 400 and writes nothing,
and one bad row left from before cannot take the list pages down."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import DataError, IntegrityError, connection, transaction

from orders import roles
from orders.models import Order, OrderLine, Product
from tests.conftest import make_user
from tests.orders.api.test_api import ApiClient, issue_key
from tests.orders.pages import order_form_data

pytestmark = pytest.mark.django_db

LARGEST_TOTAL = Decimal("9999999999.99")


@pytest.fixture
def mainframe(db):
    """Priced above 20,000: fifty lines of 10,000 units pass the per-line limit
    and together exceed what an order's total column can hold."""
    return Product.objects.create(sku="MF-1", name="Mainframe", price=Decimal("20001.00"), stock_on_hand=10)


def test_an_order_too_large_for_the_total_column_is_a_form_error_and_writes_nothing(
    client, clerk, fake_temporal, customer, mainframe, django_capture_on_commit_callbacks,
):
    client.force_login(clerk)
    data = order_form_data(customer, [(mainframe.pk, 10_000)] * 50, **{"lines-TOTAL_FORMS": "50"})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/orders/new/", data)
    assert response.status_code == 400
    assert "at most 10,000 units" in response.content.decode()
    assert Order.objects.count() == 0
    assert OrderLine.objects.count() == 0
    assert fake_temporal.starts == []
    assert client.get("/orders/").status_code == 200


def test_an_order_whose_total_exceeds_the_column_is_refused_by_the_form(
    client, clerk, fake_temporal, customer, django_capture_on_commit_callbacks,
):
    """Every line within its limits; the sum of fifty lines is not."""
    products = [Product.objects.create(sku=f"BIG-{i}", name=f"Big {i}", price=Decimal("300000.00"), stock_on_hand=1) for i in range(50)]
    client.force_login(clerk)
    data = order_form_data(customer, [(p.pk, 1000) for p in products], **{"lines-TOTAL_FORMS": "50"})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/orders/new/", data)
    assert response.status_code == 400
    assert "exceeds the largest total an order can hold" in response.content.decode()
    assert Order.objects.count() == 0
    assert fake_temporal.starts == []


def test_an_order_too_large_for_the_total_column_is_a_json_400_from_the_api(customer, mainframe, fake_temporal):
    api = ApiClient(issue_key(make_user("shop-bot", roles.STOREFRONTS)))
    body = {"customer_id": customer.pk, "lines": [{"sku": mainframe.sku, "quantity": 10_000}] * 50, "shipping_address": "1 Main St"}
    response = api.post("/orders", body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert "at most 10,000 units" in response.json()["message"]
    assert Order.objects.count() == 0
    assert fake_temporal.starts == []


def test_a_price_above_what_an_order_line_can_hold_is_refused_by_the_product_admin(admin_client, db):
    response = admin_client.post("/admin/orders/product/add/", {
        "sku": "TOO-1", "name": "Too dear", "price": "99999999999.00", "stock_on_hand": "1", "active": "on",
    })
    assert response.status_code == 200  # the form again, with its error
    assert "Ensure that there are no more than 12 digits in total." in response.content.decode()
    assert not Product.objects.filter(sku="TOO-1").exists()


@pytest.mark.parametrize("table, column, value", [
    ("orders_order", "total", "10000000000.00"),
    ("orders_order", "total", "-1"),
    ("orders_orderline", "quantity", "10001"),
    ("orders_orderline", "unit_price", "-0.01"),
    ("orders_product", "price", "-5"),
])
def test_the_database_refuses_impossible_amounts(make_order, column, table, value):
    order = make_order()
    row_id = {"orders_order": order.pk, "orders_orderline": order.lines.get().pk, "orders_product": order.lines.get().product_id}[table]
    # PostgreSQL refuses a total wider than numeric(12, 2) by itself (DataError); the checks refuse the rest.
    with pytest.raises((IntegrityError, DataError)):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET {column} = {value} WHERE id = %s", [row_id])


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL refuses a too-wide numeric itself")
def test_one_bad_row_from_before_does_not_take_the_list_pages_down(client, admin_client, manager, make_order, fake_temporal):
    """A total wider than the column, written before the checks existed (SQLite stores whatever it is given)."""
    good, bad = make_order(), make_order(created_by=make_user("clerk2", roles.CLERKS))
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA ignore_check_constraints = ON")
        try:
            cursor.execute("UPDATE orders_order SET total = 123456789012345 WHERE id = %s", [bad.pk])
        finally:
            cursor.execute("PRAGMA ignore_check_constraints = OFF")
    client.force_login(manager)
    for path in ("/orders/", "/approvals/", f"/orders/{bad.pk}/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert good.number in response.content.decode() or path.endswith(f"{bad.pk}/")
    response = admin_client.get("/admin/orders/order/")
    assert response.status_code == 200
    assert bad.number in response.content.decode()
