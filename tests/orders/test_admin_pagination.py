"""The admin's order changelist on a big table: no COUNT over every row per page."""
from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders import pagination
from orders.models import Order
from temporal_bridge.order import states

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/orders/order/"


def unfiltered_counts(queries) -> list[str]:
    return [q["sql"] for q in queries if re.search(r"COUNT\(", q["sql"], re.I) and '"orders_order"' in q["sql"]
            and " WHERE " not in q["sql"].upper()]


@pytest.fixture
def big_table(monkeypatch):
    """As if the planner estimated 250,000 orders (PostgreSQL's pg_class.reltuples)."""
    monkeypatch.setattr(pagination, "estimated_rows", lambda queryset: 250_000)


def test_unfiltered_changelist_of_a_big_table_uses_the_estimate_not_a_count(client, manager, make_order, fake_temporal, big_table):
    make_order()
    client.force_login(manager)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert unfiltered_counts(ctx.captured_queries) == []
    assert "250000 orders" in response.content.decode().replace(",", "")


def test_filtered_changelist_is_counted_exactly(client, manager, make_order, fake_temporal, big_table):
    make_order(status=states.PENDING_APPROVAL)
    make_order(status=states.FULFILLED)
    client.force_login(manager)
    response = client.get(CHANGELIST, {"status__exact": states.FULFILLED})
    assert response.status_code == 200
    assert re.search(r"1 order\b", response.content.decode())


def test_small_tables_are_counted_exactly(client, manager, make_order, fake_temporal, monkeypatch):
    monkeypatch.setattr(pagination, "estimated_rows", lambda queryset: pagination.EXACT_COUNT_BELOW - 1)
    for _ in range(3):
        make_order()
    client.force_login(manager)
    assert re.search(r"3 orders\b", client.get(CHANGELIST).content.decode())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner's estimate is PostgreSQL's")
def test_postgresql_estimate_follows_analyze(make_order):
    for _ in range(5):
        make_order()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_order")
    assert pagination.estimated_rows(Order.objects.all()) == Order.objects.count()
