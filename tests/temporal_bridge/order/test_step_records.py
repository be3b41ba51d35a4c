"""A business step writes its own timeline entry, and the entries that
waited for it, in the transaction of its effect (real test database).

What an operator would notice if this broke: a page showing "Reserved" with
no stock held (or stock held with no record), a state change lost when a
step fails, an entry written twice when a worker retries.
"""
from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from temporalio.testing import ActivityEnvironment

from orders import steps
from orders.models import CustomerNotification, Order, StockReservation
from orders.timeline import mirror
from orders.timeline.models import OrderEvent
from temporal_bridge.order import activities as acts
from temporal_bridge.order import fulfilment, states
from temporal_bridge.order.fulfilment import NotifyInput, ReserveInput
from temporal_bridge.order.records import EntriesInput, MirrorInput, StepRecord
from tests.temporal_bridge.order.test_activities import expect_business_failure

pytestmark = pytest.mark.django_db(transaction=True)

AT = "2026-11-30T10:00:00.123456+00:00"


@pytest.fixture
def env() -> ActivityEnvironment:
    return ActivityEnvironment()


def waiting(order: Order) -> list[MirrorInput]:
    """The pure state entries an auto-approved order has appended before its first step."""
    return [
        MirrorInput(order.pk, "0001-status", "status", "Auto-approved: total is below the approval threshold",
                      status=states.APPROVED, at=AT),
        MirrorInput(order.pk, "0002-status", "status", "Processing: reserving stock and taking payment",
                      status=states.PROCESSING, at=AT),
    ]


def timeline(order: Order) -> list[tuple[str, str]]:
    return [(e.idempotency_key, e.message) for e in OrderEvent.objects.filter(order=order).order_by("idempotency_key")]


def test_reserving_stock_writes_its_entry_and_those_waiting_with_the_reservation(env, make_order):
    order = make_order(quantity=3, requires_approval=False)
    record = StepRecord(key="0003-stock", kind="stock", before=waiting(order))

    first = env.run(acts.reserve_stock, ReserveInput(order.pk, record=record))
    retried = env.run(acts.reserve_stock, ReserveInput(order.pk, record=record))  # a worker died before reporting

    assert timeline(order) == [("0001-status", "Auto-approved: total is below the approval threshold"),
                               ("0002-status", "Processing: reserving stock and taking payment"),
                               ("0003-stock", "Reserved 3 units on 1 lines from MAIN")]
    order.refresh_from_db()
    assert order.status == states.PROCESSING
    assert StockReservation.objects.filter(order=order).count() == 1
    # The entry the workflow adds to its own timeline is the one stored, retry or not.
    assert first.recorded == retried.recorded
    [entry] = first.recorded
    assert (entry.key, entry.kind, entry.message) == ("0003-stock", "stock", "Reserved 3 units on 1 lines from MAIN")
    # The waiting entries keep the workflow's times, so the mirror's times are the query's.
    assert OrderEvent.objects.get(order=order, idempotency_key="0001-status").created_at.isoformat() == AT


def test_a_step_that_fails_writes_nothing_so_the_waiting_entries_go_with_the_next_write(env, widget, make_order):
    order = make_order(product=widget, quantity=widget.stock_on_hand + 1, requires_approval=False)
    record = StepRecord(key="0003-stock", kind="stock", before=waiting(order))

    expect_business_failure(env, acts.reserve_stock, ReserveInput(order.pk, record=record), fulfilment.ERR_OUT_OF_STOCK)

    assert timeline(order) == []
    assert Order.objects.get(pk=order.pk).status == states.PENDING_APPROVAL


def test_the_customer_email_and_the_terminal_state_are_written_together_terminal_last(env, make_order):
    order = make_order(requires_approval=False, status=states.FULFILLING)
    terminal = MirrorInput(order.pk, "0009-status", "status", "Fulfilled", status=states.FULFILLED, progress=100, at=AT)
    record = StepRecord(key="0008-notification", kind="notification", after=[terminal])

    result = env.run(acts.notify_customer, NotifyInput(order.pk, "fulfilled", "notify-fulfilled", record=record))

    assert [e.message for e in result.recorded] == ["Customer emailed (fulfilled)", "Fulfilled"]
    assert timeline(order) == [("0008-notification", "Customer emailed (fulfilled)"), ("0009-status", "Fulfilled")]
    order.refresh_from_db()
    assert (order.status, order.progress) == (states.FULFILLED, 100)
    assert CustomerNotification.objects.filter(order=order).count() == 1


def test_several_entries_people_must_see_are_written_in_one_activity(env, make_order):
    order = make_order()
    entries = [MirrorInput(order.pk, "0001-note", "note", "Awaiting a manager's decision", at=AT),
               MirrorInput(order.pk, "0002-reminder", "reminder", "Reminder: needs 1 more approval", at=AT)]
    env.run(acts.record_order_entries, EntriesInput(order.pk, entries))
    env.run(acts.record_order_entries, EntriesInput(order.pk, entries))
    assert [key for key, _ in timeline(order)] == ["0001-note", "0002-reminder"]


def test_a_steps_entries_cost_the_database_a_handful_of_statements_whatever_their_number(make_order):
    # Per entry a savepoint, a failing insert and an order update used to add up to ~5 statements each.
    order = make_order(quantity=1, requires_approval=False)
    before = [MirrorInput(order.pk, "0000-submitted", "submitted", "Order submitted"),  # written at submission
              *[MirrorInput(order.pk, f"{i:04d}-note", "note", f"Note {i}", at=AT) for i in range(1, 9)]]
    record = StepRecord(key="0009-stock", kind="stock", before=before)
    with CaptureQueriesContext(connection) as queries:
        mirror.order_record_step(order_id=order.pk, record=record, message="Reserved", progress=10)

    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    work = [s for s in statements if s not in ("BEGIN", "COMMIT")]
    if connection.vendor == "postgresql":
        assert work == ["SELECT", "WITH"]  # the lock; the entries and the order's update in one statement
    else:
        assert work == ["SELECT", "SELECT", "INSERT", "UPDATE"]  # the lock, the keys held, one insert, one order update
    assert len(timeline(order)) == 10  # 0000 kept, 0001-0009 written
    order.refresh_from_db()
    assert order.progress == 10


def test_a_step_whose_effect_locked_the_order_writes_its_entries_without_asking_for_the_lock_again(make_order):
    order = make_order(quantity=1, requires_approval=False)
    with transaction.atomic():
        steps.locked_order(order.pk)
        with CaptureQueriesContext(connection) as queries:
            mirror.order_record_step(order_id=order.pk, record=StepRecord(key="0001-note", kind="note"), message="Noted")
    assert not [q for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    assert timeline(order) == [("0001-note", "Noted")]


def test_a_lock_taken_in_a_savepoint_rolled_back_or_in_an_earlier_transaction_is_asked_for_again(make_order):
    order = make_order(quantity=1, requires_approval=False)
    with transaction.atomic():
        try:
            with transaction.atomic():
                steps.order_lock(order.pk)
                raise RuntimeError("the savepoint rolls back, and PostgreSQL lets go of the lock taken in it")
        except RuntimeError:
            pass
        assert not steps.order_lock_held(order.pk)
        with CaptureQueriesContext(connection) as queries:
            steps.order_lock(order.pk)
        if connection.features.has_select_for_update:  # SQLite has no row locks to ask for
            assert [q for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
        assert steps.order_lock_held(order.pk)
    with transaction.atomic():
        assert not steps.order_lock_held(order.pk)  # a new transaction holds nothing yet


def test_a_retried_write_changes_the_order_only_by_the_entries_that_are_new(make_order):
    """An entry written before is not applied again: the order moved on since (here: to fulfilling)."""
    order = make_order(quantity=1, requires_approval=False)
    approved = MirrorInput(order.pk, "0001-status", "status", "Auto-approved", status=states.APPROVED, at=AT)
    mirror.order_record_entries([approved])
    Order.objects.filter(pk=order.pk).update(status=states.FULFILLING)

    mirror.order_record_entries([approved, MirrorInput(order.pk, "0002-note", "note", "Half way", progress=50, at=AT)])

    order.refresh_from_db()
    assert (order.status, order.progress) == (states.FULFILLING, 50)
    assert [key for key, _ in timeline(order)] == ["0001-status", "0002-note"]


def test_an_entry_written_before_whose_values_a_new_one_overrides_does_not_stop_the_update(make_order):
    order = make_order(quantity=1, requires_approval=False)
    submitted = MirrorInput(order.pk, "0000-submitted", "submitted", "Order submitted", status=states.PENDING_APPROVAL, at=AT)
    mirror.order_record_entries([submitted])
    mirror.order_record_entries([submitted, MirrorInput(order.pk, "0001-status", "status", "Processing", status=states.PROCESSING, at=AT)])
    order.refresh_from_db()
    assert order.status == states.PROCESSING
