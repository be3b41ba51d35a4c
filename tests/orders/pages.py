"""What the order pages' tests share: log in, name a page, fill the new-order form."""
from __future__ import annotations

from django.test import Client
from django.urls import reverse

from orders.models import Order

HTMX = {"HX-Request": "true"}
REQUEST_ID = "req-0123456789abcdef"


def url(name: str, order: Order | int) -> str:
    return reverse(f"orders:{name}", args=[order.pk if isinstance(order, Order) else order])


def logged_in(client: Client, user) -> Client:
    client.force_login(user)
    return client


def order_form_data(customer, lines, *, shipping_address="1 Main Street\nSpringfield", **extra) -> dict:
    data = {
        "customer": customer.pk if customer is not None else "",
        "priority": "normal",
        "shipping_address": shipping_address,
        "note": "",
        "lines-TOTAL_FORMS": "4",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "50",
    }
    for i, (product_id, quantity) in enumerate(lines):
        data[f"lines-{i}-product"] = product_id
        data[f"lines-{i}-quantity"] = quantity
    data.update(extra)
    return data
