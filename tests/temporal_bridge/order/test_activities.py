"""The sync activities on the real test database: each one writes at most once.

ActivityEnvironment runs a sync activity in the calling thread, but every
activity closes stale connections before and after it runs (as a worker must),
and closing the connection inside pytest-django's per-test transaction would
break it. So these tests use real transactions (`transaction=True`).
"""
from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from approvals import identity
from approvals.models import ApprovalDecision
from orders.models import CustomerNotification, Order, OrderLine, Product, StockReservation
from orders.payments.models import PaymentTransaction
from orders.timeline.models import OrderEvent
from temporal_bridge.contract.db_activity import db_activity
from temporal_bridge.contract.intents import ActorCheckInput
from temporal_bridge.order import activities as acts
from temporal_bridge.order import fulfilment, payments, states
from temporal_bridge.order import messages as m
from temporal_bridge.order.fulfilment import NotifyInput, ReleaseResult, ReserveInput, ReserveResult
from temporal_bridge.order.holds import HoldResult
from temporal_bridge.order.payments import PaymentInput
from temporal_bridge.order.records import DecisionInput, EntriesInput, MirrorInput, OrderRef
from temporal_bridge.order.split_plan import PlannedFulfilment, PlannedLine

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def env() -> ActivityEnvironment:
    return ActivityEnvironment()


def run_twice(env: ActivityEnvironment, activity, arg):
    """Run an activity the way a retry would: the same input, a second time."""
    return env.run(activity, arg), env.run(activity, arg)


def reload(obj):
    obj.refresh_from_db()
    return obj


def expect_business_failure(env, activity, arg, error_type: str) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        env.run(activity, arg)
    assert caught.value.type == error_type
    assert caught.value.non_retryable is True
    return caught.value


# --- record_order_entries -----------------------------------------------------------


def entries(*batch: MirrorInput) -> EntriesInput:
    return EntriesInput(batch[0].order_id, list(batch))


def test_record_order_entries_writes_an_event_and_the_state_once(env, make_order):
    order = make_order()
    deadline = (timezone.now() + timedelta(hours=48)).replace(microsecond=0)
    entry = MirrorInput(
        order_id=order.pk, idempotency_key="0002-approved", kind=OrderEvent.Kind.STATUS, message="Approved by manager",
        actor="manager", status=states.APPROVED, approval_deadline=deadline.isoformat(),
    )
    assert run_twice(env, acts.record_order_entries, entries(entry)) == (None, None)

    [event] = OrderEvent.objects.filter(order=order, idempotency_key="0002-approved")
    assert (event.kind, event.message, event.actor) == ("status", "Approved by manager", "manager")
    order = reload(order)
    assert order.status == states.APPROVED
    assert order.approval_deadline == deadline


def test_record_order_entries_replayed_late_does_not_roll_the_state_back(env, make_order):
    order = make_order()
    approved = MirrorInput(order_id=order.pk, idempotency_key="k-approved", kind="status", message="Approved", status=states.APPROVED)
    processing = MirrorInput(
        order_id=order.pk, idempotency_key="k-processing", kind="status", message="Processing", status=states.PROCESSING,
    )
    env.run(acts.record_order_entries, entries(approved))
    env.run(acts.record_order_entries, entries(processing))
    env.run(acts.record_order_entries, entries(approved))  # a retry of the first, arriving late
    assert reload(order).status == states.PROCESSING
    assert OrderEvent.objects.filter(order=order).count() == 2


def test_record_order_entries_without_a_state_leaves_the_state_alone(env, make_order):
    order = make_order(status=states.FULFILLING)
    note = MirrorInput(order_id=order.pk, idempotency_key="k-note", kind="note", message="Customer asked for gift wrap")
    run_twice(env, acts.record_order_entries, entries(note))
    assert reload(order).status == states.FULFILLING
    assert OrderEvent.objects.filter(order=order, kind="note").count() == 1


def test_activity_on_a_missing_order_fails_without_retrying(env, db):
    entry = MirrorInput(order_id=999_999, idempotency_key="k", kind="status", message="x", status=states.APPROVED)
    expect_business_failure(env, acts.record_order_entries, entries(entry), m.ERR_ORDER_NOT_FOUND)
    expect_business_failure(env, acts.reserve_stock, ReserveInput(999_999), m.ERR_ORDER_NOT_FOUND)


# --- record_decision -------------------------------------------------------------------


def test_record_decision_writes_one_decision_per_request_id(env, make_order, manager):
    order = make_order()
    decision = DecisionInput(order_id=order.pk, actor="manager", decision="approved", comment="Fine", request_id="req-0001")
    run_twice(env, acts.record_decision, decision)
    [recorded] = ApprovalDecision.objects.filter(order=order)
    assert (recorded.approver, recorded.approver_username, recorded.decision, recorded.comment) == (manager, "manager", "approved", "Fine")


def test_record_decision_keeps_the_name_of_an_unknown_approver(env, make_order):
    order = make_order()
    decision = DecisionInput(order_id=order.pk, actor="gone", decision="rejected", comment="No", request_id="req-0002")
    env.run(acts.record_decision, decision)
    recorded = ApprovalDecision.objects.get(request_id="req-0002")
    assert recorded.approver is None
    assert recorded.approver_username == "gone"


# --- apply_order_update ------------------------------------------------------------------


def test_apply_order_update_changes_only_the_given_fields(env, make_order):
    order = make_order(note="Original note")
    update = m.UpdateInput(order_id=order.pk, actor="clerk", request_id="req-u1", priority="urgent", shipping_address="2 New Road")
    run_twice(env, acts.apply_order_update, update)
    order = reload(order)
    assert (order.priority, order.shipping_address, order.note) == ("urgent", "2 New Road", "Original note")
    assert Order.objects.count() == 1


def test_an_update_that_sends_the_order_back_for_approval_voids_the_decisions_given(env, make_order):
    order = make_order()
    env.run(acts.record_decision, DecisionInput(order_id=order.pk, actor="manager", decision="approved", comment="", request_id="req-a1"))
    env.run(acts.apply_order_update, m.UpdateInput(order_id=order.pk, actor="clerk", request_id="req-u2", note="Leave at the door"))
    assert not ApprovalDecision.objects.get(request_id="req-a1").superseded  # a note changes nothing the approver saw
    env.run(acts.apply_order_update, m.UpdateInput(order_id=order.pk, actor="clerk", request_id="req-u3",
                                                   shipping_address="9 Elsewhere", reapproval=True))
    assert ApprovalDecision.objects.get(request_id="req-a1").superseded


# --- reserve_stock / release_stock ---------------------------------------------------------


def test_reserve_stock_reserves_each_line_once(env, make_order, widget):
    order = make_order(quantity=3)
    first, second = run_twice(env, acts.reserve_stock, ReserveInput(order.pk))
    # The payment is not held (no breaker open): read in the same transaction.
    assert first == second == ReserveResult(lines_reserved=1, units_reserved=3, hold=HoldResult(held=False, recheck_seconds=300.0),
                                            fulfilments=[PlannedFulfilment("MAIN", [PlannedLine(widget.pk, 3)])])
    widget = reload(widget)
    assert (widget.stock_on_hand, widget.stock_reserved) == (100, 3)
    [reservation] = StockReservation.objects.filter(order=order)
    assert (reservation.product, reservation.quantity, reservation.status) == (widget, 3, StockReservation.Status.HELD)


def test_out_of_stock_fails_without_retrying_and_reserves_nothing(env, widget, server, make_order):
    assert widget.pk < server.pk  # the line in stock is reserved first, then must be undone
    order = make_order(product=widget, quantity=3)
    OrderLine.objects.create(order=order, product=server, quantity=6, unit_price=server.price)  # 5 on hand

    error = expect_business_failure(env, acts.reserve_stock, ReserveInput(order.pk), fulfilment.ERR_OUT_OF_STOCK)
    assert "SRV-1" in str(error)
    assert StockReservation.objects.count() == 0
    assert reload(widget).stock_reserved == 0
    assert reload(server).stock_reserved == 0


def test_stock_held_by_other_orders_is_not_available(env, make_order, server):
    first = make_order(product=server, quantity=4)
    second = make_order(product=server, quantity=2)
    env.run(acts.reserve_stock, ReserveInput(first.pk))
    expect_business_failure(env, acts.reserve_stock, ReserveInput(second.pk), fulfilment.ERR_OUT_OF_STOCK)
    assert reload(server).stock_reserved == 4


def test_release_stock_gives_units_back_once(env, make_order, widget):
    order = make_order(quantity=3)
    env.run(acts.reserve_stock, ReserveInput(order.pk))
    first, second = run_twice(env, acts.release_stock, OrderRef(order.pk))
    assert (first, second) == (ReleaseResult(units_released=3), ReleaseResult(units_released=0))
    widget = reload(widget)
    assert (widget.stock_on_hand, widget.stock_reserved) == (100, 0)
    assert StockReservation.objects.get(order=order).status == StockReservation.Status.RELEASED


def test_release_stock_with_nothing_reserved_is_a_no_op(env, make_order):
    order = make_order()
    assert env.run(acts.release_stock, OrderRef(order.pk)) == ReleaseResult(units_released=0)


# --- charge_payment / refund_payment --------------------------------------------------------


def test_charge_payment_captures_once(env, make_order):
    order = make_order(quantity=3)  # 30.00
    payment = PaymentInput(order_id=order.pk, idempotency_key=f"{order.workflow_id}-capture")
    first, second = run_twice(env, acts.charge_payment, payment)
    assert first == second
    assert (first.amount, first.currency) == ("30.00", "USD")
    [capture] = PaymentTransaction.objects.filter(order=order)
    assert (capture.kind, capture.amount, capture.provider_reference) == ("capture", Decimal("30.00"), first.provider_reference)


def test_payment_above_the_credit_limit_is_declined_without_retrying(env, make_order, customer):
    customer.credit_limit = Decimal("20.00")
    customer.save()
    order = make_order(quantity=3)  # 30.00
    error = expect_business_failure(env, acts.charge_payment, PaymentInput(order.pk, "cap-1"), payments.ERR_PAYMENT_DECLINED)
    assert "credit limit" in str(error)
    assert PaymentTransaction.objects.count() == 0


def test_refund_payment_refunds_the_capture_once(env, make_order):
    order = make_order(quantity=3)
    capture = env.run(acts.charge_payment, PaymentInput(order.pk, "cap-2"))
    first, second = run_twice(env, acts.refund_payment, PaymentInput(order.pk, "ref-2"))
    assert first == second
    assert (first.amount, first.currency) == (capture.amount, capture.currency)
    assert first.provider_reference != capture.provider_reference
    assert PaymentTransaction.objects.filter(order=order, kind="refund").count() == 1
    assert PaymentTransaction.objects.filter(order=order).count() == 2


def test_refund_without_a_capture_refunds_nothing(env, make_order):
    order = make_order()
    result = env.run(acts.refund_payment, PaymentInput(order.pk, "ref-3"))
    assert result.amount == "0.00"
    assert PaymentTransaction.objects.count() == 0


# --- ship_order ------------------------------------------------------------------------


def test_ship_order_consumes_the_reserved_stock_once(env, make_order, widget):
    order = make_order(quantity=3)
    env.run(acts.reserve_stock, ReserveInput(order.pk))
    first, second = run_twice(env, acts.ship_order, OrderRef(order.pk))

    assert first == second  # the same tracking number on a retry
    assert first.tracking_number.startswith("1Z")
    widget = reload(widget)
    assert (widget.stock_on_hand, widget.stock_reserved) == (97, 0)
    assert StockReservation.objects.get(order=order).status == StockReservation.Status.SHIPPED
    assert reload(order).tracking_number == first.tracking_number


def test_released_stock_is_not_shipped(env, make_order, widget):
    order = make_order(quantity=3)
    env.run(acts.reserve_stock, ReserveInput(order.pk))
    env.run(acts.release_stock, OrderRef(order.pk))
    env.run(acts.ship_order, OrderRef(order.pk))
    widget = reload(widget)
    assert (widget.stock_on_hand, widget.stock_reserved) == (100, 0)


# --- notify_customer ----------------------------------------------------------------------


def test_notify_customer_sends_one_email_per_key(env, make_order, customer):
    order = make_order(status=states.FULFILLED, tracking_number="1Z12345678")
    notice = NotifyInput(order_id=order.pk, kind="fulfilled", idempotency_key="notify-fulfilled")
    first, second = run_twice(env, acts.notify_customer, notice)
    assert (first.sent, second.sent) == (True, False)

    [email] = mail.outbox
    assert email.to == [customer.email]
    assert email.subject == f"Your order {order.number} has shipped"
    assert "1Z12345678" in email.body
    assert CustomerNotification.objects.filter(order=order).count() == 1


def test_each_notification_kind_has_its_own_key(env, make_order):
    order = make_order(status=states.CANCELLED)
    env.run(acts.notify_customer, NotifyInput(order.pk, "cancelled", "notify-cancelled"))
    env.run(acts.notify_customer, NotifyInput(order.pk, "failed", "notify-failed"))
    assert [e.subject for e in mail.outbox] == [
        f"Your order {order.number} was cancelled", f"We could not complete your order {order.number}",
    ]


def test_failed_email_leaves_no_marker_so_the_retry_sends(env, make_order, monkeypatch):
    order = make_order(status=states.REJECTED)
    notice = NotifyInput(order_id=order.pk, kind="rejected", idempotency_key="notify-rejected")

    def broken_send_mail(**kwargs):
        raise ConnectionRefusedError("SMTP server down")

    monkeypatch.setattr("orders.steps.send_mail", broken_send_mail)
    with pytest.raises(ConnectionRefusedError):
        env.run(acts.notify_customer, notice)
    assert CustomerNotification.objects.count() == 0

    monkeypatch.undo()
    assert env.run(acts.notify_customer, notice).sent is True
    assert len(mail.outbox) == 1


def test_activities_run_in_the_calling_thread_here(env, make_order):
    """Why the tests above can share the test database: no other thread is involved."""
    seen = []
    order = make_order()

    def spy(ref: OrderRef) -> None:
        seen.append(threading.get_ident())
        Product.objects.count()

    env.run(db_activity(spy), OrderRef(order.pk))
    assert seen == [threading.get_ident()]


@pytest.mark.parametrize("actor", ["man\x00ager", "\x07bell", "x" * 151, ""])
def test_an_actor_no_user_can_have_is_refused_without_asking_the_database(env, make_order, actor):
    # On PostgreSQL a NUL byte in the query made the identity check fail, and
    # its retry policy retried it for ever: the order's messages froze.
    order = make_order()
    result = identity.actor_verify(ActorCheckInput(order.pk, actor, m.SIGNAL_APPROVE))
    assert result.allowed is False
    assert "is not a user of the desk" in result.reason
