"""A step holds its order's row only: the customer's other orders go on meanwhile (PostgreSQL row locks)."""
from __future__ import annotations

import pytest
from django.db import connection, transaction

from orders import steps
from tests.row_locks import lock_from_elsewhere


@pytest.mark.django_db(transaction=True)
def test_a_step_holding_its_order_leaves_the_customer_free_for_their_other_orders(make_order):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no row locks: it runs one writer at a time")
    order = make_order(quantity=1)

    with transaction.atomic():
        steps.locked_order(order.pk)
        outcome = lock_from_elsewhere("SELECT 1 FROM orders_customer WHERE id = %s FOR UPDATE NOWAIT", [order.customer_id])

    assert outcome == "went on"
