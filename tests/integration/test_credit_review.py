"""Credit review end to end on a real dev server and worker: an order over its
customer's credit limit waits on hold, in finance's inbox; raising the limit
in the admin wakes it at once and it is fulfilled."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from orders import roles
from orders.models import Order
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import holds, states
from tests.conftest import make_user
from tests.integration.test_lifecycle import finished, snapshot_state, submit, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_an_order_over_the_credit_limit_waits_for_finance_and_goes_on_once_the_limit_is_raised(
    stack, settings, clerk, customer, widget,
):
    settings.ORDER_FULFILMENT_STEPS = 1
    settings.ORDER_DESK_HOLD_RECHECK_SECONDS = 3600  # only the admin's wake-up can release it within the test
    customer.credit_limit = Decimal("15.00")
    customer.save()
    order = submit(clerk, customer, widget, 2)  # 20.00, auto-approved
    held = wait_for(lambda: snapshot_state(order.pk, states.ON_HOLD), what="the credit hold")
    assert held.hold_reason == "open balance 0.00 + this order 20.00 exceeds the credit limit 15.00"
    wait_for(lambda: Order.objects.filter(pk=order.pk, status=states.ON_HOLD, hold_stage=holds.STAGE_CREDIT).exists(), what="the mirror")

    finance = Client()
    finance.force_login(make_user("fiona", roles.FINANCE, is_staff=True))
    assert f'data-credit-hold="{order.number}"' in finance.get("/approvals/").content.decode()
    response = finance.post(f"/admin/orders/customer/{customer.pk}/change/",
                            {"name": customer.name, "email": customer.email, "credit_limit": "500.00"}, follow=True)
    assert "1 order(s) of Acme Corporation held for credit review check the new limit now." in response.content.decode()

    snapshot = finished(order.pk)
    assert snapshot.state == states.FULFILLED
    messages = [entry.message for entry in snapshot.timeline]
    assert "Held for credit review: open balance 0.00 + this order 20.00 exceeds the credit limit 15.00" in messages
    assert "Released: credit review passed: open balance 0.00 + this order 20.00 is within the credit limit 500.00" in messages
    assert order_calls.query_order(order.pk).hold_reason == ""
    assert "data-credit-hold=" not in finance.get("/approvals/").content.decode()
