"""Credit review: the open-balance rule, the check the workflow reads before the
stock (with the order's approval written in its transaction), the mirror's
credit hold, and a limit raised in the admin waking that customer's held orders."""
from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from temporalio.testing import ActivityEnvironment

from orders import roles
from orders.holds import services as holds
from orders.inventory.models import WarehouseStock
from orders.models import Customer, Order, StockReservation
from orders.timeline import mirror
from temporal_bridge.order import holds as holds_messages
from temporal_bridge.order import records, states
from temporal_bridge.order.activities import read_hold, reserve_stock
from temporal_bridge.order.fulfilment import ReserveInput
from temporal_bridge.order.holds import HoldInput, HoldResult
from temporal_bridge.order.records import MirrorInput, StepRecord
from tests.conftest import make_user
from tests.row_locks import lock_from_elsewhere

pytestmark = pytest.mark.django_db

OVER = "open balance 9,970.00 + this order 30.00 exceeds the credit limit 9,990.00"


@pytest.fixture
def limited(customer) -> Customer:
    customer.credit_limit = Decimal("100.00")
    customer.save()
    return customer


def held_for_credit(order: Order, index: int = 3, reason: str = OVER) -> None:
    """The entry the workflow writes when it puts the order on hold for credit review."""
    text = holds_messages.held_text(holds_messages.STAGE_CREDIT, HoldResult(held=True, reason=reason))
    mirror.order_record_entries([MirrorInput(order.pk, records.timeline_key(index, "hold"), "hold", text, status=states.ON_HOLD)])


# --- The rule ---------------------------------------------------------------------------------


def test_the_open_balance_counts_the_customers_other_approved_orders_that_have_not_finished(make_order, limited, clerk):
    this = make_order(status=states.APPROVED)
    counted = [make_order(status=status) for status in (states.APPROVED, states.PROCESSING, states.FULFILLING, states.ON_HOLD,
                                                         states.IN_TRANSIT)]
    for status in (states.PENDING_APPROVAL, states.FULFILLED, states.CANCELLED, states.REJECTED, states.FAILED, states.DELIVERED):
        make_order(status=status)
    other_customer = Customer.objects.create(name="Other", email="o@example.com")
    make_order(status=states.PROCESSING, customer=other_customer)
    waiting_for_review = make_order(status=states.APPROVED)
    held_for_credit(waiting_for_review)

    assert holds.credit_open_balance(limited.pk, besides=this.pk) == sum(o.total for o in counted) == Decimal("150.00")


def test_within_the_limit_the_order_goes_on_and_over_it_the_order_is_held_with_the_figures(make_order, limited):
    make_order(status=states.PROCESSING, quantity=5)  # 50.00 open
    within = make_order(status=states.APPROVED, quantity=5)  # 50 + 50 = 100: within
    answer = holds.hold_read(within.pk, holds_messages.STAGE_CREDIT)
    assert answer.held is False
    assert answer.reason == "open balance 50.00 + this order 50.00 is within the credit limit 100.00"

    over = make_order(status=states.PENDING_APPROVAL, quantity=6)  # 50 + 50 (the first, approved) + 60 > 100
    answer = holds.hold_read(over.pk, holds_messages.STAGE_CREDIT)
    assert answer == HoldResult(held=True, reason="open balance 100.00 + this order 60.00 exceeds the credit limit 100.00",
                                recheck_seconds=answer.recheck_seconds)
    text = holds_messages.held_text(holds_messages.STAGE_CREDIT, answer)
    assert text == "Held for credit review: open balance 100.00 + this order 60.00 exceeds the credit limit 100.00"


def test_thousands_are_grouped_as_finance_reads_them():
    assert holds_messages.credit_reason(Decimal("12400"), Decimal("3000"), Decimal("10000")) == (
        "open balance 12,400.00 + this order 3,000.00 exceeds the credit limit 10,000.00")


def test_of_two_orders_waiting_for_review_the_first_that_fits_goes_on_and_then_counts_for_the_other(make_order, limited):
    first, second = make_order(status=states.APPROVED, quantity=6), make_order(status=states.APPROVED, quantity=6)
    running = make_order(status=states.PROCESSING, quantity=5)
    held_for_credit(first)
    held_for_credit(second)
    assert holds.hold_read(first.pk, holds_messages.STAGE_CREDIT).held is True  # 50 + 60 > 100

    Order.objects.filter(pk=running.pk).update(status=states.FULFILLED)  # the running order ends
    assert holds.hold_read(first.pk, holds_messages.STAGE_CREDIT).held is False, "the other one waits too: not counted"
    first.refresh_from_db()
    assert first.hold_stage == "", "passing, it claims its credit at once"
    assert holds.hold_read(second.pk, holds_messages.STAGE_CREDIT).held is True, "60 + 60 > 100"


# The activity closes stale connections, which would break pytest-django's per-test transaction: real ones here.
@pytest.mark.django_db(transaction=True)
def test_the_check_writes_the_orders_approval_first_so_a_sibling_checked_next_counts_it(make_order, limited):
    """The approval waits in the workflow until the next step: the check carries it, in its transaction."""
    first, second = make_order(status=states.PENDING_APPROVAL, quantity=6), make_order(status=states.PENDING_APPROVAL, quantity=6)
    approved = MirrorInput(first.pk, records.timeline_key(2, "status"), "status", "Approved by manager", status=states.APPROVED)

    answer = ActivityEnvironment().run(read_hold, HoldInput(first.pk, holds_messages.STAGE_CREDIT, [approved]))

    assert answer.held is False
    first.refresh_from_db()
    assert first.status == states.APPROVED and first.events.filter(idempotency_key="0002-status").exists()
    assert ActivityEnvironment().run(read_hold, HoldInput(second.pk, holds_messages.STAGE_CREDIT)).held is True


def test_the_mirror_knows_an_order_waits_for_credit_review_until_its_release(make_order, limited):
    order = make_order(status=states.APPROVED)
    held_for_credit(order)
    order.refresh_from_db()
    assert (order.status, order.hold_stage) == (states.ON_HOLD, holds_messages.STAGE_CREDIT)
    assert mirror.mirror_snapshot(order).hold_reason.startswith("Held for credit review: ")

    release = holds_messages.released_text(holds_messages.STAGE_CREDIT, "anyone", HoldResult(held=False, reason="fits"))
    assert release == "Released: credit review passed: fits"
    mirror.order_record_entries([MirrorInput(order.pk, records.timeline_key(4, "hold_released"), "hold_released", release,
                                             status=states.APPROVED)])
    order.refresh_from_db()
    assert (order.status, order.hold_stage) == (states.APPROVED, "")


# --- Finance raises the limit in the admin ------------------------------------------------------


@pytest.fixture
def finance(db):
    return make_user("fiona", roles.FINANCE, is_staff=True)


def change(client, customer: Customer, limit: str):
    return client.post(f"/admin/orders/customer/{customer.pk}/change/",
                       {"name": customer.name, "email": customer.email, "credit_limit": limit}, follow=True)


# Real transactions: the orders are told once the new limit is committed.
@pytest.mark.django_db(transaction=True)
def test_raising_a_limit_in_the_admin_wakes_that_customers_held_orders_at_once(client, finance, make_order, limited, fake_temporal):
    waiting, waiting_too, running = make_order(status=states.APPROVED), make_order(status=states.APPROVED), make_order()
    held_for_credit(waiting)
    held_for_credit(waiting_too)
    other = make_order(status=states.APPROVED, customer=Customer.objects.create(name="Other", email="o@example.com"))
    held_for_credit(other)
    client.force_login(finance)

    response = change(client, limited, "5000.00")

    assert response.status_code == 200
    assert "2 order(s) of Acme Corporation held for credit review check the new limit now." in response.content.decode()
    assert sorted(s.order_id for s in fake_temporal.signals) == sorted([waiting.pk, waiting_too.pk])
    assert {(s.name, s.payload.by) for s in fake_temporal.signals} == {(holds_messages.SIGNAL_HOLDS_LIFTED, "fiona")}
    assert running.pk not in {s.order_id for s in fake_temporal.signals}


def test_a_lower_or_unchanged_limit_wakes_nobody(client, finance, make_order, limited, fake_temporal, django_capture_on_commit_callbacks):
    held_for_credit(make_order(status=states.APPROVED))
    client.force_login(finance)
    with django_capture_on_commit_callbacks(execute=True):
        change(client, limited, "100.00")
        change(client, limited, "50.00")
    assert fake_temporal.signals == []
    limited.refresh_from_db()
    assert limited.credit_limit == Decimal("50.00")


def test_a_clerk_cannot_change_a_credit_limit(client, clerk, limited):
    clerk.is_staff = True
    clerk.save()
    client.force_login(clerk)
    assert change(client, limited, "5000.00").status_code == 403
    limited.refresh_from_db()
    assert limited.credit_limit == Decimal("100.00")


def _approved_and_processing(order: Order) -> list[MirrorInput]:
    return [MirrorInput(order.pk, records.timeline_key(1, "status"), "status", "Approved by manager", status=states.APPROVED),
            MirrorInput(order.pk, records.timeline_key(2, "status"), "status", "Processing", status=states.PROCESSING)]


@pytest.mark.django_db(transaction=True)
def test_the_reservation_checks_the_credit_in_its_own_transaction_and_then_counts_for_a_sibling(make_order, limited):

    first, second = make_order(status=states.PENDING_APPROVAL, quantity=6), make_order(status=states.PENDING_APPROVAL, quantity=6)
    record = StepRecord(key=records.timeline_key(3, "stock"), kind="stock", before=_approved_and_processing(first))

    reserved = ActivityEnvironment().run(reserve_stock, ReserveInput(first.pk, record=record, credit_check=True))

    assert reserved.credit_hold is None and reserved.lines_reserved == 1
    first.refresh_from_db()
    assert first.status == states.PROCESSING and first.events.filter(idempotency_key="0003-stock").exists()
    assert StockReservation.objects.filter(order=first).count() == 1
    assert ActivityEnvironment().run(read_hold, HoldInput(second.pk, holds_messages.STAGE_CREDIT)).held is True


@pytest.mark.django_db(transaction=True)
def test_over_the_limit_the_reservation_reserves_nothing_and_writes_only_what_waited(make_order, limited):

    make_order(status=states.PROCESSING, quantity=5)  # 50.00 open
    over = make_order(status=states.PENDING_APPROVAL, quantity=6)  # 50 + 60 > 100
    record = StepRecord(key=records.timeline_key(3, "stock"), kind="stock", before=_approved_and_processing(over))

    reserved = ActivityEnvironment().run(reserve_stock, ReserveInput(over.pk, record=record, credit_check=True))

    assert reserved.credit_hold is not None and reserved.credit_hold.held
    assert reserved.credit_hold.reason == "open balance 50.00 + this order 60.00 exceeds the credit limit 100.00"
    assert reserved.lines_reserved == 0 and not StockReservation.objects.filter(order=over).exists()
    assert sorted(over.events.values_list("idempotency_key", flat=True)) == ["0001-status", "0002-status"], "not its own entry"


@pytest.mark.django_db(transaction=True)
def test_a_reservation_waiting_for_stock_rows_leaves_the_customer_free_for_their_new_orders(make_order, limited):
    # The credit check once held the customer's row until the reservation committed; a new order's insert
    # (which checks that row) then waited on it, while the reservation waited on stock rows: a deadlock.
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no row locks: it runs one writer at a time")
    order = make_order(status=states.PENDING_APPROVAL, quantity=1)
    record = StepRecord(key=records.timeline_key(3, "stock"), kind="stock", before=_approved_and_processing(order))

    def reserve() -> None:
        try:
            ActivityEnvironment().run(reserve_stock, ReserveInput(order.pk, record=record, credit_check=True))
        finally:
            connections.close_all()

    with transaction.atomic():
        list(WarehouseStock.objects.select_for_update())  # another order's step holds the stock rows
        reserving = threading.Thread(target=reserve)
        reserving.start()
        reserving.join(2)  # the reservation now waits for them
        assert reserving.is_alive()
        # A new order's insert checks the customer's row.
        outcome = lock_from_elsewhere("SELECT 1 FROM orders_customer WHERE id = %s FOR KEY SHARE NOWAIT", [limited.pk])
    reserving.join(30)

    assert outcome == "went on"
    assert StockReservation.objects.filter(order=order).count() == 1
