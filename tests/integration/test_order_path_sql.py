"""What one auto-approved order costs the database, statement by statement, through a real worker.

The bench's shape (one fulfilment step), and the connection settings a deployed worker has (kept
connections with health checks). A cut that adds round trips back fails here, with the table of what
each activity sent; `-s` prints the table.
"""
from __future__ import annotations

import pytest
from django.db import connections
from temporalio.api.enums.v1 import EventType

from orders import services
from orders.models import Order
from temporal_bridge.order import states
from tests.integration.sql_trace import OUTSIDE, SUBMITTER, sql_trace
from tests.integration.test_lifecycle import finished, order_history

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# What the worker may send for one auto-approved order, all activities and its codec together
# (health checks and savepoints count: each is a round trip).
# Its history: 5 activities, 5 workflow tasks after the first, the search attributes, one patch marker and the
# service-level timers; no progress signal when the fulfilment has one step (the activity's end says 100%).
EVENTS_BUDGET = 43
# On SQLite a timeline write takes the ORM's three statements (keys held, insert, update) instead of one.
WORKER_BUDGET = {"postgresql": 49, "sqlite": 69}


@pytest.fixture
def deployed_connections(monkeypatch):
    """Kept connections with health checks, as config/settings.py gives a deployed worker."""
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 60)
    monkeypatch.setitem(connections.settings["default"], "CONN_HEALTH_CHECKS", True)


def test_an_auto_approved_order_costs_the_worker_few_statements(deployed_connections, stack, settings, clerk, customer, widget):
    settings.ORDER_FULFILMENT_STEPS = 1
    with sql_trace() as trace:
        order = services.order_submit(customer=customer, lines=[services.LineRequest(widget, 2)], created_by=clerk,
                                      shipping_address="1 Main Street\nSpringfield")
        snapshot = finished(order.pk)
    print("\n" + trace.table(full=True))
    assert snapshot.state == states.FULFILLED
    worker = {place: trace.count(place) for place in trace.statements if place != SUBMITTER}
    print({**worker, "worker total": sum(worker.values())})
    assert sum(worker.values()) <= WORKER_BUDGET[connections["default"].vendor], trace.table()
    # The activities' order row lock, once per step: never the customer's row (their other orders wait on it).
    for place, statements in trace.statements.items():
        if place not in (SUBMITTER, OUTSIDE):
            assert not [s for s in statements if "FOR UPDATE" in s and "orders_customer" in s.split("FOR UPDATE")[-1]], place
    # The customer's email: its marker row written by one statement, which also says whether it was sent before.
    assert len([s for s in trace.statements["notify_customer"] if "orders_customernotification" in s]) == 1
    # What the order costs Temporal: events in its history (each a write of the history and a task to run).
    events = order_history(order.pk).events
    print(f"{len(events)} events")
    assert len(events) <= EVENTS_BUDGET
    kinds = [event.event_type for event in events]
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED not in kinds
    # One patch marker (and its TemporalChangeVersion upsert), whatever the changes it stands for.
    assert kinds.count(EventType.EVENT_TYPE_MARKER_RECORDED) == 1
    # The first task enters approved and then processing: one upsert says so.
    first_task = kinds[:kinds.index(EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)]
    upserts = [e for e in events[:len(first_task)] if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
               and "OrderState" in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields]
    assert len(upserts) == 1
    # The last stage's timer is not cancelled at the end (the finished run drops it); the stage change cancels one.
    assert kinds.count(EventType.EVENT_TYPE_TIMER_CANCELED) == kinds.count(EventType.EVENT_TYPE_TIMER_STARTED) - 1
    assert kinds[-2] == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    assert Order.objects.get(pk=order.pk).progress == 100  # the mirror's bar is full all the same
