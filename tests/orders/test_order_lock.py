"""A step holds its order's row only: the customer's other orders go on meanwhile (PostgreSQL row locks)."""
from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, connection, connections, transaction

from orders import steps
from orders.models import Customer


@pytest.mark.django_db(transaction=True)
def test_a_step_holding_its_order_leaves_the_customer_free_for_their_other_orders(make_order):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no row locks: it runs one writer at a time")
    order = make_order(quantity=1)
    outcome: list[str] = []

    def another_step_locks_the_customer() -> None:
        try:
            with transaction.atomic():
                Customer.objects.select_for_update(nowait=True).get(pk=order.customer_id)
            outcome.append("went on")
        except DatabaseError:
            outcome.append("blocked")
        finally:
            connections.close_all()

    with transaction.atomic():
        steps.locked_order(order.pk)
        other = threading.Thread(target=another_step_locks_the_customer)
        other.start()
        other.join()

    assert outcome == ["went on"]
