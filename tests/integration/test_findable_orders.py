"""Orders an operator can find in the Temporal UI, on a real
dev server with the desk's search attributes registered (devserver.py).

The client sets them at start; the workflow keeps the state current; a
visibility query finds an order by state and number, as the UI's filter does;
the run carries a summary and current details; no personal data sits in the
(unencrypted) search attributes.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from temporalio.client import Client

from temporal_bridge.client.bridge import bridge
from temporal_bridge.order import messages as m
from temporal_bridge.order import search_attributes as sa
from temporal_bridge.order import states
from tests.integration.test_lifecycle import finished, submit, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def listed(query: str) -> list[str]:
    async def run(client: Client) -> list[str]:
        return [w.id async for w in client.list_workflows(query)]

    return bridge.call(run, timeout=10)


def described(workflow_id: str):
    """The run's description, and its summary (decoded through the client's data converter)."""

    async def run(client: Client):
        info = await client.get_workflow_handle(workflow_id).describe()
        return info, await info.static_summary()

    return bridge.call(run, timeout=10)


def test_a_finished_order_is_found_by_state_and_number_and_carries_a_summary(stack, clerk, customer, widget):
    order = submit(clerk, customer, widget, 1)  # small: auto-approved
    final = finished(order.pk)
    assert final.state == states.FULFILLED
    workflow_id = m.workflow_id_for(order.pk)

    query = sa.visibility_query(state=states.FULFILLED, number=order.number)
    assert wait_for(lambda: listed(query) == [workflow_id], what=f"visibility to list {query}")
    assert listed(sa.visibility_query(state=states.PENDING_APPROVAL, number=order.number)) == []
    assert wait_for(lambda: workflow_id in listed(sa.visibility_query(customer_id=customer.pk)), what="the customer's orders")

    info, summary = described(workflow_id)
    attributes = info.typed_search_attributes
    assert attributes.get(sa.ORDER_STATE) == states.FULFILLED
    assert attributes.get(sa.ORDER_NUMBER) == order.number
    assert attributes.get(sa.TOTAL_BAND) == sa.total_band(str(order.total))
    assert attributes.get(sa.ESCALATED) is False
    # Nothing personal in what the server stores unencrypted.
    stored = " ".join(str(value) for value in (attributes.get(key) for key in sa.ALL) if value is not None)
    for personal in (customer.name, customer.email, "Main Street", clerk.username):
        assert personal not in stored
    assert summary == f"{order.number} · {customer.name} · {order.total:,} {order.currency}"


def test_the_operations_filter_for_orders_stuck_in_a_state_is_a_valid_visibility_query(stack):
    query = sa.visibility_query(state=states.FULFILLING, entered_before=datetime.now(UTC) - timedelta(hours=1))
    assert listed(query) == []  # accepted by the server (an unknown attribute or bad syntax raises)


def test_registering_the_search_attributes_again_changes_nothing(stack):
    out = StringIO()
    call_command("register_search_attributes", stdout=out)
    assert out.getvalue().startswith("All present on 'default': OrderState, OrderNumber")
