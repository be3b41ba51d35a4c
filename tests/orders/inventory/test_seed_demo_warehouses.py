"""The demo data: three warehouses whose stock differs, and seeded orders of which some split."""
from __future__ import annotations

import pytest
from django.core.management import call_command

from orders.inventory import selectors
from orders.models import Order, Product, WarehouseStock

pytestmark = pytest.mark.django_db


def test_seed_demo_makes_three_warehouses_whose_stock_differs_and_orders_that_split(fake_temporal, policies):
    call_command("seed_demo", orders=12, verbosity=0)

    held = {}
    for row in WarehouseStock.objects.select_related("warehouse", "product"):
        held.setdefault(row.product.sku, {})[row.warehouse.code] = row.on_hand
    assert held["GAD-310"] == {"EAST": 250, "WEST": 150} and held["DSK-160"] == {"MAIN": 60}
    for product in Product.objects.all():  # the totals are the sum of the warehouses
        assert product.stock_on_hand == sum(held[product.sku].values())

    plans = selectors.order_plans(Order.objects.all())
    split = [number for number, plan in ((o.number, plans[o.pk]) for o in Order.objects.all()) if plan and plan.is_split]
    assert Order.objects.count() == 12
    assert split, "some demo orders ship from two warehouses"
