"""The database side of lines no warehouse holds: a reservation that keeps what is available, the decision's
record (dropped lines leave the total, backorders wait, restocked ones are filled), the identity check."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from temporalio.testing import ActivityEnvironment

from approvals import identity
from approvals.models import ApprovalDecision
from orders import steps
from orders.inventory import services
from orders.models import Backorder, Order, OrderLine, StockReservation
from orders.timeline.models import OrderEvent
from temporal_bridge.contract.intents import ActorCheckInput
from temporal_bridge.order import activities as acts
from temporal_bridge.order import stock_decisions as sd
from temporal_bridge.order.fulfilment import ReserveInput
from temporal_bridge.order.records import DecisionInput, StepRecord
from temporal_bridge.order.split_plan import PlannedLine
from tests.conftest import make_user

# Activities close their connections (as a long-lived worker must): committed data, as in test_activities.py.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def short_order(make_order, widget, server):
    """3 widgets (in stock) and 8 servers (5 in MAIN, none elsewhere), 8,030.00: the standard policy."""
    order = make_order(product=widget, quantity=3, approval_rule={"policy_id": None, "approvals_required": 1})
    OrderLine.objects.create(order=order, product=server, quantity=8, unit_price=server.price)
    Order.objects.filter(pk=order.pk).update(total=Decimal("8030.00"))
    return Order.objects.get(pk=order.pk)


def step(kind: str, position: int) -> StepRecord:
    return StepRecord(key=f"{position:04d}-{kind}", kind=kind)


def test_a_reservation_that_keeps_what_is_available_reports_the_rest_and_takes_it_once_restocked(short_order, widget, server):
    plan, missing = steps.stock_reserve(order_id=short_order.pk, keep_available=True)
    assert [(line.product_id, line.quantity) for f in plan.fulfilments for line in f.lines] == [(widget.pk, 3)]
    assert plan.unavailable == [PlannedLine(server.pk, 8)]
    assert missing == "8 × SRV-1 (at most 5 in any one warehouse)"

    services.stock_set_on_hand(warehouse_id=services.default_warehouse().pk, product_id=server.pk, on_hand=10)
    plan, missing = steps.stock_reserve(order_id=short_order.pk, keep_available=True)
    assert (plan.unavailable, missing) == ([], "")
    reserved = StockReservation.objects.filter(order=short_order).values_list("product__sku", "quantity")
    assert sorted(reserved) == [("SRV-1", 8), ("WID-1", 3)]


def test_dropping_a_line_lowers_the_total_before_the_payment_and_says_so(short_order, server, policies):
    env = ActivityEnvironment()
    steps.stock_reserve(order_id=short_order.pk, keep_available=True)
    decision = sd.StockDecisionInput(short_order.pk, "clerk", dropped=[PlannedLine(server.pk, 8)], why="chosen by clerk",
                                     record=step("stock_decided", 5))
    first = env.run(acts.apply_stock_decision, decision)
    again = env.run(acts.apply_stock_decision, decision)  # a retry changes nothing more

    order = Order.objects.get(pk=short_order.pk)
    assert order.total == Decimal("30.00") and first.total == again.total == "30.00" and first.lines_left == 1
    assert OrderLine.objects.get(order=order, product=server).dropped
    [entry] = OrderEvent.objects.filter(order=order, kind="stock_decided")
    assert entry.message == ("Stock decision: dropped 8 × SRV-1 (chosen by clerk); the total is now 30.00 USD (was 8,030.00), "
                             "and the payment will be for that, under another approval rule: the order goes back for approval")
    # 30.00 falls under "Small orders" (automatic): the rule the workflow compares with the approvers' one.
    assert first.rule.auto_approve and again.rule.auto_approve
    assert order.approval_rule["auto_approve"] is True


def test_a_drop_into_another_rule_voids_the_approvals_given(short_order, server, policies, manager):
    acts_env = ActivityEnvironment()
    acts_env.run(acts.record_decision, DecisionInput(order_id=short_order.pk, actor="manager", decision="approved", comment="",
                                                     request_id="approve-1"))
    acts_env.run(acts.apply_stock_decision, sd.StockDecisionInput(short_order.pk, "clerk", dropped=[PlannedLine(server.pk, 8)],
                                                                  why="chosen by clerk", record=step("stock_decided", 5)))
    assert ApprovalDecision.objects.get(request_id="approve-1").superseded


def test_a_reserved_line_is_never_dropped(short_order, widget):
    steps.stock_reserve(order_id=short_order.pk, keep_available=True)
    ActivityEnvironment().run(acts.apply_stock_decision, sd.StockDecisionInput(short_order.pk, "clerk", dropped=[PlannedLine(widget.pk, 3)],
                                                                              why="forged"))
    assert not OrderLine.objects.get(order=short_order, product=widget).dropped
    assert Order.objects.get(pk=short_order.pk).total == Decimal("8030.00")


def test_a_backorder_waits_then_is_filled_where_the_restock_came(short_order, server, fake_temporal):
    env = ActivityEnvironment()
    until = timezone.now() + timedelta(days=14)
    line = PlannedLine(server.pk, 8)
    steps.stock_reserve(order_id=short_order.pk, keep_available=True)
    env.run(acts.apply_stock_decision, sd.StockDecisionInput(short_order.pk, "clerk", backordered=[line], backorder_until=until.isoformat(),
                                                             why="chosen by clerk", record=step("stock_decided", 5)))
    backorder = Backorder.objects.get(order=short_order)
    assert (backorder.status, backorder.quantity, backorder.until) == ("waiting", 8, until)

    services.stock_set_on_hand(warehouse_id=services.default_warehouse().pk, product_id=server.pk, on_hand=9)
    env.run(acts.reserve_stock, ReserveInput(short_order.pk, keep_available=True))
    env.run(acts.apply_stock_decision, sd.StockDecisionInput(short_order.pk, "clerk", filled=[line], why="", record=step("stock", 7)))
    backorder.refresh_from_db()
    assert (backorder.status, backorder.warehouse.code) == ("filled", "MAIN")
    assert OrderEvent.objects.get(order=short_order, kind="stock").message == "Stock decision: restocked and reserved 8 × SRV-1"


def test_a_cancel_releases_the_stock_and_ends_the_backorders_waiting(short_order, server):
    steps.stock_reserve(order_id=short_order.pk, keep_available=True)
    ActivityEnvironment().run(acts.apply_stock_decision, sd.StockDecisionInput(
        short_order.pk, "clerk", backordered=[PlannedLine(server.pk, 8)], backorder_until=timezone.now().isoformat(), why=""))
    steps.stock_release(order_id=short_order.pk)
    assert Backorder.objects.get(order=short_order).status == "cancelled"


def test_the_requester_may_choose_and_someone_without_the_right_may_not(short_order, clerk):
    assert identity.actor_verify(ActorCheckInput(short_order.pk, "clerk", sd.SIGNAL_STOCK_DECISION)).allowed
    make_user("visitor")
    refused = identity.actor_verify(ActorCheckInput(short_order.pk, "visitor", sd.SIGNAL_STOCK_DECISION))
    assert not refused.allowed and refused.reason == "visitor is not allowed to change orders"
    Order.objects.filter(pk=short_order.pk).update(created_by=make_user("shopper"))  # a requester without the permission
    assert identity.actor_verify(ActorCheckInput(short_order.pk, "shopper", sd.SIGNAL_STOCK_DECISION)).allowed


def test_the_ops_page_counts_backorders_waiting_and_late_by_warehouse(client, short_order, server, manager, fake_temporal):
    ActivityEnvironment().run(acts.apply_stock_decision, sd.StockDecisionInput(
        short_order.pk, "clerk", backordered=[PlannedLine(server.pk, 8)], backorder_until=(timezone.now() - timedelta(hours=1)).isoformat(),
        why="chosen by clerk"))
    assert Backorder.objects.get(order=short_order).warehouse.code == "MAIN"  # where the rest of the order would ship from
    client.force_login(manager)
    html = client.get("/ops/").content.decode()
    assert '<tr data-warehouse="MAIN"><td>MAIN</td><td class="num">1</td><td class="num">1</td></tr>' in html
